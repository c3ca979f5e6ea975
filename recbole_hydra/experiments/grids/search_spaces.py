"""Search spaces for `tune`: properties/search/<Model>.yaml read and checked, then turned into Ray Tune domains.

Format: `key: {domain: arguments}`, one line per searched key; see properties/search/HydraRec.yaml.
"""

import os
import sys

from recbole_hydra.config_errors import ConfigError
from recbole_hydra.files import load_yaml
from recbole_hydra.runtime.defaults import SEARCH_SPACES_DIR

FALLBACK_SPACE = "_default.yaml"
DOMAIN_ARITY = {"choice": None, "uniform": 2, "loguniform": 2, "randint": 2, "quniform": 3}


def space_file(model, space_dir=SEARCH_SPACES_DIR):
    """properties/search/<Model>.yaml, or the generic fallback (with a warning) when absent."""
    path = os.path.join(space_dir, f"{model}.yaml")
    if os.path.isfile(path):
        return path
    fallback = os.path.join(space_dir, FALLBACK_SPACE)
    if not os.path.isfile(fallback):
        raise ConfigError(f"no search space for {model}: write {path}")
    print(f"tune: no {path}; {model} searches only the generic keys of {fallback}", file=sys.stderr)
    return fallback


def read_space(path, mode):
    """{key: (domain, arguments)} for one mode; errors name the file and the key."""
    try:
        specs = load_yaml(path)
    except Exception as error:
        raise ConfigError(f"search space {path} is not valid yaml: {error}") from None
    space = {}
    for key, spec in specs.items():
        where = f"search space {path}, key '{key}'"
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: expected {{domain: arguments}}, e.g. {{uniform: [0.1, 0.5]}}, got {spec!r}")
        spec = dict(spec)
        modes = spec.pop("modes", None)
        if modes is not None and (not isinstance(modes, list) or not modes):
            raise ConfigError(f"{where}: 'modes' must be a non-empty list such as [bidirectional], got {modes!r}")
        if len(spec) != 1 or next(iter(spec)) not in DOMAIN_ARITY:
            raise ConfigError(f"{where}: expected exactly one domain of {list(DOMAIN_ARITY)}, got {list(spec)}")
        domain, arguments = next(iter(spec.items()))
        arity = DOMAIN_ARITY[domain]
        if not isinstance(arguments, list) or not arguments or (arity and len(arguments) != arity):
            shape = "a non-empty list of values" if arity is None else f"a list of {arity} numbers"
            raise ConfigError(f"{where}: {domain} takes {shape}, got {arguments!r}")
        if arity and not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in arguments):
            raise ConfigError(f"{where}: {domain} takes numbers, got {arguments!r}")
        if arity and arguments[0] >= arguments[1]:
            raise ConfigError(f"{where}: {domain} needs low < high, got {arguments!r}")
        if domain == "loguniform" and arguments[0] <= 0:
            raise ConfigError(f"{where}: loguniform needs low > 0, got {arguments!r}")
        if modes is None or mode in modes:
            space[key] = (domain, arguments)
    return space


def ray_space(space):
    """Our (domain, arguments) pairs as Ray Tune sample domains."""
    from ray import tune

    make = {
        "choice": lambda a: tune.choice(a),
        "uniform": lambda a: tune.uniform(*a),
        "loguniform": lambda a: tune.loguniform(*a),
        "randint": lambda a: tune.randint(a[0], a[1] + 1),  # Ray excludes the upper end; we include it
        "quniform": lambda a: tune.quniform(*a),
    }
    return {key: make[domain](arguments) for key, (domain, arguments) in space.items()}
