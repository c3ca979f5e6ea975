"""Input validation that fails early, naming the key (or file and line) and what was expected."""

import difflib
import numbers


class ConfigError(ValueError):
    """A configuration value is missing or out of range; the message names the key."""


HIDDEN_ACTIVATIONS = ("gelu", "relu", "swish", "tanh", "sigmoid")  # RecBole's FeedForward
LOSS_TYPES = ("CE", "BPR")


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def positive_int(config, key):
    value = config[key]
    if not _is_int(value) or value <= 0:
        raise ConfigError(f"config key '{key}' must be a positive integer, got {value!r}")
    return int(value)


def positive_float(config, key):
    value = config[key]
    if not _is_real(value) or not value > 0:
        raise ConfigError(f"config key '{key}' must be a positive number, got {value!r}")
    return float(value)


def probability(config, key, closed_right=False):
    """A float in [0, 1), or [0, 1] with closed_right."""
    value = config[key]
    ok = _is_real(value) and 0 <= value and (value <= 1 if closed_right else value < 1)
    if not ok:
        interval = "[0, 1]" if closed_right else "[0, 1)"
        raise ConfigError(f"config key '{key}' must be a number in {interval}, got {value!r}")
    return float(value)


def one_of(config, key, choices):
    value = config[key]
    if value not in choices:
        raise ConfigError(f"config key '{key}' must be one of {list(choices)}, got {value!r}")
    return value


def boolean(config, key):
    value = config[key]
    if not isinstance(value, bool):
        raise ConfigError(f"config key '{key}' must be True or False, got {value!r}")
    return value


def check_model_config(config):
    """Validate every key HydraRec reads; return them as a plain dict.

    `config` is a RecBole Config (or any mapping with `[]`); RecBole returns None for a
    missing key, which fails here with the key's name instead of deep inside torch.
    """
    hp = {
        "n_layers": positive_int(config, "n_layers"),
        "hidden_size": positive_int(config, "hidden_size"),
        "inner_size": positive_int(config, "inner_size"),
        "hidden_dropout_prob": probability(config, "hidden_dropout_prob"),
        "attn_dropout_prob": probability(config, "attn_dropout_prob"),
        "hidden_act": one_of(config, "hidden_act", HIDDEN_ACTIVATIONS),
        "layer_norm_eps": positive_float(config, "layer_norm_eps"),
        "initializer_range": positive_float(config, "initializer_range"),
        "loss_type": one_of(config, "loss_type", LOSS_TYPES),
        "bidirectional": boolean(config, "bidirectional"),
        # Absent from configs saved before the key existed: those ran eagerly.
        "compile": False if config["compile"] is None else boolean(config, "compile"),
        "MAX_ITEM_LIST_LENGTH": positive_int(config, "MAX_ITEM_LIST_LENGTH"),
    }
    if hp["bidirectional"]:
        if config["transform"] != "mask_itemseq":
            raise ConfigError(
                "config key 'transform' must be 'mask_itemseq' when 'bidirectional' is True "
                f"(masked-item training needs RecBole's mask transform), got {config['transform']!r}"
            )
        hp["mask_ratio"] = probability(config, "mask_ratio", closed_right=True)
        hp["ft_ratio"] = probability(config, "ft_ratio", closed_right=True)
        if int(hp["mask_ratio"] * hp["MAX_ITEM_LIST_LENGTH"]) < 1:
            raise ConfigError(
                f"config keys 'mask_ratio' × 'MAX_ITEM_LIST_LENGTH' must be at least 1 (RecBole masks "
                f"int(mask_ratio × length) items), got {hp['mask_ratio']} × {hp['MAX_ITEM_LIST_LENGTH']}"
            )
    return hp


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
