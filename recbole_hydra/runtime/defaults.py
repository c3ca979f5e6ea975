"""Where our models' defaults live (properties/<Model>.yaml), and the keys whose defaults follow from others.

RecBole reads a model's yaml only from its own package folder; patches.py layers ours on top of
RecBole's defaults, then `apply_mode_dependent_defaults` fills in what the mode implies.
"""

import os

from recbole_hydra.files import load_yaml
from recbole_hydra.runtime.model_names import PLUGIN_MODELS

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A wheel carries properties/ inside the package; a checkout (or editable install) has it beside it.
PROPERTIES_DIR = next(
    (
        path
        for path in (os.path.join(_PACKAGE_DIR, "properties"), os.path.join(_PACKAGE_DIR, os.pardir, "properties"))
        if os.path.isdir(path)
    ),
    os.path.join(_PACKAGE_DIR, os.pardir, "properties"),
)
SEARCH_SPACES_DIR = os.path.join(PROPERTIES_DIR, "search")
# Training keys of ours that any model may take (the learning-rate schedule); their defaults change nothing.
TRAINING_DEFAULTS_YAML = os.path.join(PROPERTIES_DIR, "lr_schedule.yaml")
# Keys whose defaults (in properties/HydraRec.yaml and BIDIRECTIONAL_DEFAULTS) suit the default
# training scheme ('sequence': a row is a window of up to N targets). With train_scheme 'prefix'
# (a row is one target) RecBole's own defaults apply, so prefix runs stay comparable with
# RecBole's models and numbers.
SEQUENCE_SCHEME_KEYS = ("train_batch_size",)
# Each mode starts from its reference model's RecBole defaults: properties/HydraRec.yaml holds
# SASRec's dropout (0.5) for causal mode; bidirectional mode takes BERT4Rec's. Its windows come
# 128 a batch, not causal mode's 32: smaller batches did worse on validation there ("Windows per
# batch" in docs/training.md). The local term (`local_window: 3`) is in the yaml, for both modes.
BIDIRECTIONAL_DEFAULTS = {
    "hidden_dropout_prob": 0.2,
    "attn_dropout_prob": 0.2,
    "train_batch_size": 128,
}


def model_yaml(model_name):
    """Path of a plugin model's defaults file."""
    return os.path.join(PROPERTIES_DIR, f"{model_name}.yaml")


def training_defaults():
    """Our training keys and their defaults, which leave RecBole's training as it is."""
    return load_yaml(TRAINING_DEFAULTS_YAML)


def mode_default(model_name, key, bidirectional):
    """A plugin model's default of `key` in one mode, with its default training scheme: the yaml's
    value, or what bidirectional mode sets instead."""
    value = load_yaml(model_yaml(model_name)).get(key)
    return BIDIRECTIONAL_DEFAULTS.get(key, value) if bidirectional else value


def mode_dependent_defaults(model_name, settings, recbole_defaults=None):
    """Keys whose defaults depend on other keys; `settings` holds every key set so far, and
    `recbole_defaults` RecBole's own values of SEQUENCE_SCHEME_KEYS."""
    defaults = {}
    if model_name in PLUGIN_MODELS:
        bidirectional = settings.get("bidirectional") is True
        defaults["transform"] = "mask_itemseq" if bidirectional else None
        if bidirectional:
            defaults.update(BIDIRECTIONAL_DEFAULTS)
        if settings.get("train_scheme") == "prefix":
            defaults.update(recbole_defaults or {})
    if settings.get("loss_type") == "CE":
        # RecBole refuses CE with negative sampling but defaults to sampling one negative.
        defaults["train_neg_sample_args"] = None
    return defaults


def apply_mode_dependent_defaults(config, model, recbole_defaults=None):
    """Fill `config.internal_config_dict` with the defaults that follow from the merged settings."""
    settings = {**config.internal_config_dict, **config.external_config_dict}
    config.internal_config_dict.update(mode_dependent_defaults(model, settings, recbole_defaults))
