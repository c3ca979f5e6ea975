"""The one place that builds a RecBole Config for our runs (train, compare, tune, bench share it).

Precedence, lowest first: RecBole's defaults < our properties/<Model>.yaml < the user's config
files < the user's `key=value` overrides. Unlike RecBole's own entry points it never reads
sys.argv behind the caller's back and never `eval()`s a value.
"""

import ast
import os

from recbole.config import Config

from recbole_hydra.config_errors import ConfigError, misspelt_keys
from recbole_hydra.files import load_yaml
from recbole_hydra.runtime.model_names import model_class
from recbole_hydra.runtime.run_checks import check_run_config


class HydraConfig(Config):
    """RecBole's Config, fed only by its arguments, with typed values and our defaults."""

    # For every model we run, not only ours: CE loss implies no negative sampling (patches.py).
    MODE_DEFAULTS_FOR_EVERY_MODEL = True

    def _load_cmd_line(self):
        return {}  # the CLI parses the command line itself and passes overrides in

    def _load_variable_config_dict(self, config_dict):
        return dict(config_dict or {})  # values are already typed: no eval()


def parse_value(text):
    """A `--key=value` string as a Python value: literals, true/false, none/~, else the string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        pass
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null", "~"):
        return None
    return text


def parse_overrides(args):
    """['--key=value', ...] → {key: value}; anything else is an error naming the argument."""
    overrides = {}
    for arg in args:
        if not arg.startswith("--") or "=" not in arg:
            raise ConfigError(f"unrecognised argument {arg!r}: RecBole settings are given as --key=value")
        key, value = arg[2:].split("=", 1)
        if not key:
            raise ConfigError(f"argument {arg!r} has no key before '='")
        overrides[key] = parse_value(value)
    return overrides


def _check_config_files(config_files):
    for path in config_files:
        if not os.path.isfile(path):
            raise ConfigError(f"config file not found: {path}")
        try:
            load_yaml(path)
        except Exception as error:  # yaml errors carry line numbers; keep them
            raise ConfigError(f"config file {path} is not valid yaml: {error}") from None


def read_config_files(config_files):
    """The settings of yaml files merged into one dict (later files win), checked like build_config's.

    For callers that store the exact settings of each run (compare, tune) and pass them as overrides.
    """
    _check_config_files(config_files)
    merged = {}
    for path in config_files:
        merged.update(load_yaml(path))
    return merged


def build_config(model, dataset, config_files=(), overrides=None):
    """A checked RecBole Config for `model` on `dataset`."""
    config_files = list(config_files or [])
    overrides = dict(overrides or {})
    _check_config_files(config_files)
    model_class(model)
    try:
        config = HydraConfig(model=model, dataset=dataset, config_file_list=config_files, config_dict=overrides)
    except ConfigError:
        raise
    except (ValueError, NotImplementedError, RuntimeError) as error:
        # RecBole's own checks (unknown model or metric, topk <= 0, bad eval_args): one line, not a traceback.
        raise ConfigError(f"RecBole rejected the settings: {error}") from None
    given = set(overrides) | {k for path in config_files for k in load_yaml(path)}
    typos = misspelt_keys(given, config.internal_config_dict)
    if typos:
        listed = ", ".join(f"'{key}' (did you mean '{known}'?)" for key, known in typos)
        raise ConfigError(f"unknown config key {listed}: RecBole would silently ignore it")
    check_run_config(config)
    return config


def plain(value):
    """A config value as plain yaml data (RecBole keeps enums, devices and numpy scalars)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return str(getattr(value, "name", value))
