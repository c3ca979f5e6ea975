"""Input validation that fails early, naming the key (or file and line) and what was expected."""

import argparse
import difflib
import numbers
import os


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


# ----- the RecBole keys our runs rely on --------------------------------------------------

SEED_RANGE = 2**32  # numpy's seed must lie in [0, 2**32)


def _metric_result_keys(metrics, topk):
    """The keys RecBole's evaluator will return: 'ndcg@10' for top-k metrics, 'auc' for the rest."""
    from recbole.evaluator.register import metric_information

    keys = []
    for metric in metrics:
        need = metric_information.get(metric.lower(), ())
        if "rec.topk" in need or "rec.items" in need:
            keys += [f"{metric.lower()}@{k}" for k in topk]
        else:
            keys.append(metric.lower())
    return keys


def check_run_config(config):
    """Validate the RecBole keys that train, compare, tune and bench rely on.

    RecBole accepts these unchecked and fails late: epochs=0 crashes after "training" while
    loading a checkpoint that was never written, and a valid_metric the run does not compute
    crashes with a KeyError at the end of the first epoch.
    """
    for key in ("epochs", "train_batch_size", "eval_batch_size", "stopping_step", "MAX_ITEM_LIST_LENGTH"):
        positive_int(config, key)
    positive_float(config, "learning_rate")
    seed = config["seed"]
    if not _is_int(seed) or not 0 <= seed < SEED_RANGE:
        raise ConfigError(f"config key 'seed' must be an integer in [0, 2**32), got {seed!r}")
    topk = config["topk"]
    topk = [topk] if _is_int(topk) else topk
    if not isinstance(topk, list) or not topk or not all(_is_int(k) and k > 0 for k in topk):
        raise ConfigError(f"config key 'topk' must be a positive integer or a list of them, got {config['topk']!r}")
    computed = _metric_result_keys(config["metrics"], topk)
    valid_metric = config["valid_metric"]
    if not isinstance(valid_metric, str) or valid_metric.lower() not in computed:
        raise ConfigError(
            f"config key 'valid_metric' must be one of the metrics this run computes (from 'metrics' and "
            f"'topk'): {', '.join(computed)}; got {valid_metric!r}"
        )


# ----- CLI options (argparse `type=` functions and list checks) ---------------------------


def positive_int_arg(text):
    """argparse type: a positive integer (argparse names the option and exits 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def seed_arg(text):
    """argparse type: a random seed, an integer in [0, 2**32)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < SEED_RANGE:
        raise argparse.ArgumentTypeError(f"expected an integer seed in [0, 2**32), got {text!r}")
    return value


def positive_float_arg(text):
    """argparse type: a positive finite number."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


# ----- model names -----------------------------------------------------------------------

_MODEL_KINDS = ("general", "context_aware", "sequential", "knowledge_aware")
_EXLIB_MODELS = ("LightGBM", "XGBoost")  # need optional libraries RecBole does not install


def check_model_name(name, option="--model"):
    """RecBole's get_model(name) must find the class; an unknown name otherwise fails with a
    traceback about lightgbm (the last package get_model searches), a wrong case with an AttributeError."""
    import importlib
    import importlib.util

    from recbole_hydra.registry import PLUGIN_MODELS

    if name in PLUGIN_MODELS:
        return name
    if name in _EXLIB_MODELS:
        missing = [lib for lib in ("lightgbm", "xgboost") if importlib.util.find_spec(lib) is None]
        if missing:  # RecBole's exlib package imports both
            raise ConfigError(f"option {option}: {name} needs the optional packages {', '.join(missing)}; install them first")
        return name
    for kind in _MODEL_KINDS:
        path = f"recbole.model.{kind}_recommender.{str(name).lower()}"
        if importlib.util.find_spec(path) and hasattr(importlib.import_module(path), name):
            return name
    raise ConfigError(f"option {option}: {name!r} is not a model RecBole or recbole-hydra knows{_did_you_mean(name, recbole_model_names())}")


def _did_you_mean(name, known):
    by_lower = {k.lower(): k for k in known}
    close = difflib.get_close_matches(str(name).lower(), list(by_lower), n=1, cutoff=0.6)
    return f" (did you mean '{by_lower[close[0]]}'?)" if close else ""


def recbole_model_names(kinds=_MODEL_KINDS):
    """Model class names RecBole's get_model takes, of the given kinds, plus ours."""
    import importlib
    import inspect

    from recbole.model.abstract_recommender import AbstractRecommender

    from recbole_hydra.registry import PLUGIN_MODELS

    names = set(PLUGIN_MODELS)
    for kind in kinds:
        package = importlib.import_module(f"recbole.model.{kind}_recommender")
        names |= {name for name, cls in inspect.getmembers(package, inspect.isclass)
                  if issubclass(cls, AbstractRecommender) and cls.__module__.startswith(package.__name__)}
    return sorted(names)


def check_model_names(names, option="--models"):
    """Each name must be HydraRec or a RecBole sequential model; no duplicates. Returns the list."""
    known = recbole_model_names(kinds=("sequential",))
    if not names:
        raise ConfigError(f"option {option} needs at least one model name")
    for name in names:
        if name not in known:
            raise ConfigError(f"option {option}: {name!r} is not HydraRec or a RecBole sequential model"
                              f"{_did_you_mean(name, known)}; "
                              f"expected one of {', '.join(known)}")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigError(f"option {option} names {', '.join(repeated)} more than once; expected each model once")
    return list(names)


# ----- resuming ---------------------------------------------------------------------------


def check_resume_checkpoint(path, config):
    """The checkpoint `--resume` names must exist, be RecBole's, and match this run's model and data.

    RecBole would otherwise fail inside load_state_dict with a tensor-size traceback, or silently
    continue a different model. Returns the checkpoint's last finished epoch.
    """
    from recbole_hydra import registry

    if not os.path.isfile(path):
        raise ConfigError(f"option --resume: checkpoint {path} not found")
    try:
        state = registry.load_checkpoint(path)
    except Exception as error:  # a truncated or foreign file: torch raises many kinds
        raise ConfigError(f"option --resume: {path} is not a readable checkpoint ({type(error).__name__}: {error})") from None
    if not isinstance(state, dict) or not {"config", "epoch", "state_dict"} <= set(state):
        raise ConfigError(f"option --resume: {path} is not a RecBole checkpoint (expected the file a run saved)")
    saved = state["config"]
    keys = ["model", "dataset", "MAX_ITEM_LIST_LENGTH"] + list(config.parameters.get("Model", []))
    for key in keys:
        if saved[key] != config[key]:
            raise ConfigError(f"option --resume: {path} was trained with {key}={saved[key]!r} but this run has "
                              f"{key}={config[key]!r}; expected the settings of the run that saved it")
    best = registry.best_checkpoint_of(path)
    if best is not None and not os.path.isfile(best):
        raise ConfigError(f"option --resume: {path} holds the last epoch, but its best-model checkpoint {best} "
                          "is missing; expected both files side by side (or resume from the best one)")
    if state["epoch"] + 1 >= config["epochs"]:
        raise ConfigError(f"option --resume: {path} already finished epoch {state['epoch']} of epochs="
                          f"{config['epochs']}; expected a larger --epochs=N to train further")
    return state["epoch"]
