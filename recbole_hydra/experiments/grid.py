"""The grid every experiment shares: one evaluation protocol, and which (model, mode) rows a model list means.

compare, tune and bench all read a `--models` list the same way: HydraRec stands for both of
its modes (`HydraRec:causal` for one), RecBole's sequential models for one row each.
"""

from recbole_hydra.runtime.model_names import PLUGIN_MODELS, sequential_model_class
from recbole_hydra.validation import ConfigError

# RecBole's own sequential protocol, written out so every model gets it whatever its defaults:
# leave-one-out by time, full ranking; model selection on validation, never on test.
PROTOCOL = {
    "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "group_by": "user", "mode": "full"},
    "metrics": ["Hit", "NDCG", "MRR"],
    "topk": [10, 20],
    "valid_metric": "NDCG@10",
}
# The one table of modes. HydraRec has both, set by its `bidirectional` key; RecBole's models read
# a sequence one way ('-' for those not classified here).
HYDRAREC_MODES = {"causal": False, "bidirectional": True}
RECBOLE_MODES = {"SASRec": "causal", "BERT4Rec": "bidirectional"}


def recbole_mode(model):
    """How a RecBole model reads a sequence: 'causal', 'bidirectional' or '-' (not classified)."""
    return RECBOLE_MODES.get(model, "-")


def model_modes(spec, option="--models"):
    """'HydraRec' → both modes; 'HydraRec:causal' → one; any other RecBole model → its nature.

    Returns [(model, mode, extra settings)].
    """
    name, _, mode = spec.partition(":")
    sequential_model_class(name, option)
    if name in PLUGIN_MODELS:
        if mode and mode not in HYDRAREC_MODES:
            raise ConfigError(f"option {option}: mode '{mode}' of {name} must be one of {list(HYDRAREC_MODES)}")
        return [(name, m, {"bidirectional": HYDRAREC_MODES[m]}) for m in ([mode] if mode else HYDRAREC_MODES)]
    if mode:
        raise ConfigError(f"option {option}: '{spec}': only {', '.join(PLUGIN_MODELS)} take a ':mode' suffix")
    return [(name, recbole_mode(name), {})]


def expand_models(specs, option="--models"):
    """[(model, mode, extra settings)] for a --models list; each (model, mode) once."""
    variants = [variant for spec in specs for variant in model_modes(spec, option)]
    if len({(model, mode) for model, mode, _ in variants}) < len(variants):
        raise ConfigError(f"option {option} lists a model twice: {list(specs)}")
    return variants


def check_no_mode_setting(common):
    """The mode is part of the model list: a shared --bidirectional would silently lose to it."""
    if "bidirectional" in common:
        raise ConfigError("--bidirectional applies to HydraRec only: list HydraRec:causal or HydraRec:bidirectional")
