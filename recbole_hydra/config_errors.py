"""The error every bad setting raises, and the typed checks that raise it.

A leaf module: it imports nothing of ours, so every room (the model's own config checks
included) reports a bad value the same way, and the CLI turns any ConfigError into one line
and exit status 2.

Each check takes a mapping and a key, so the message names the key the user wrote: a RecBole
Config (`config["hidden_size"]`) and a dict of command-line options (`{"--jobs": 0}`) alike.
"""

import difflib
import numbers


class ConfigError(ValueError):
    """A setting, option or input is missing or out of range; the message names it."""


def is_int(value):
    """An integer that is not a bool (True is an int in Python, never a count here)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value):
    """A real number that is not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _name(key):
    """'--jobs' is an option; anything else is a config key."""
    return f"option {key}" if str(key).startswith("-") else f"config key '{key}'"


def positive_int(config, key):
    value = config[key]
    if not is_int(value) or value <= 0:
        raise ConfigError(f"{_name(key)} must be a positive integer, got {value!r}")
    return int(value)


def non_negative_int(config, key):
    value = config[key]
    if not is_int(value) or value < 0:
        raise ConfigError(f"{_name(key)} must be an integer ≥ 0, got {value!r}")
    return int(value)


def positive_float(config, key):
    value = config[key]
    if not is_real(value) or not value > 0:
        raise ConfigError(f"{_name(key)} must be a positive number, got {value!r}")
    return float(value)


def resource_amount(config, key, positive=False):
    """CPUs or GPUs a run asks for: a fraction below 1 (shared with other runs), a whole number above."""
    value = config[key]
    ok = is_real(value) and (value > 0 if positive else value >= 0) and (value <= 1 or float(value).is_integer())
    if not ok:
        least = "above 0" if positive else "0 or more"
        raise ConfigError(f"{_name(key)} must be a number {least}, whole above 1 (e.g. 0.5, 1, 2), got {value!r}")
    return float(value)


def probability(config, key, closed_right=False):
    """A number in [0, 1), or [0, 1] with closed_right."""
    value = config[key]
    ok = is_real(value) and 0 <= value and (value <= 1 if closed_right else value < 1)
    if not ok:
        interval = "[0, 1]" if closed_right else "[0, 1)"
        raise ConfigError(f"{_name(key)} must be a number in {interval}, got {value!r}")
    return float(value)


def one_of(config, key, choices):
    value = config[key]
    if value not in choices:
        raise ConfigError(f"{_name(key)} must be one of {list(choices)}, got {value!r}")
    return value


def boolean(config, key):
    value = config[key]
    if not isinstance(value, bool):
        raise ConfigError(f"{_name(key)} must be True or False, got {value!r}")
    return value


def did_you_mean(name, known, cutoff=0.6):
    """' (did you mean 'X'?)' for the known name closest to `name` (case-insensitive), else ''."""
    by_lower = {str(k).lower(): k for k in known}
    close = difflib.get_close_matches(str(name).lower(), list(by_lower), n=1, cutoff=cutoff)
    return f" (did you mean '{by_lower[close[0]]}'?)" if close else ""


def misspelt_keys(given_keys, known_keys):
    """Pairs (given, suggestion) for given keys that are unknown but close to a known one.

    RecBole reads a missing key as None, so a typo like `hiden_size` silently keeps the default.
    """
    known = set(known_keys)
    pairs = []
    for key in given_keys:
        if key in known:
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.8)
        if close:
            pairs.append((key, close[0]))
    return pairs
