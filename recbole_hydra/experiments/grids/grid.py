"""The grid every experiment shares: one evaluation protocol, and which (model, mode) rows a model list means.

compare, tune and bench all read a `--models` list the same way: HydraRec stands for both of
its modes (`HydraRec:causal` for one), RecBole's sequential models for one row each; a row may
add its own settings (`HydraRec:causal:train_scheme=prefix`), so one table can hold variants.
"""

from typing import NamedTuple

from recbole_hydra.runtime.config import parse_value
from recbole_hydra.runtime.model_names import PLUGIN_MODELS, sequential_model_class
from recbole_hydra.runtime.train_scheme import scheme_for
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


class Row(NamedTuple):
    """One row of a comparison or one search: a model, its mode, and the settings the row adds.

    `variant` names the row's own settings ('' for none), as the spec wrote them: 'train_scheme=prefix'
    for `HydraRec:causal:train_scheme=prefix`; `settings` adds them (and the mode's key) to the shared ones.
    """

    model: str
    mode: str
    variant: str
    settings: dict

    @property
    def key(self):
        return (self.model, self.mode, self.variant)

    @property
    def spec(self):
        """The --models entry that means this row alone."""
        return ":".join(
            part for part in (self.model, self.mode if self.model in PLUGIN_MODELS else "", self.variant) if part
        )

    def train_scheme(self, common):
        """The training scheme this row runs with, given the shared settings (RecBole's models: 'prefix')."""
        return scheme_for(self.model, {**common, **self.settings})

    def run_settings(self, common):
        """The settings of a run of this row: the shared ones < the row's own; HydraRec's training scheme
        written out, so that a folder made under another default scheme is never mistaken for this one."""
        settings = {**common, **self.settings}
        if self.model in PLUGIN_MODELS:
            settings["train_scheme"] = self.train_scheme(common)
        return settings


def _row_settings(spec, parts, option):
    """The `key=value` parts of a model spec, as settings (values read as Python literals)."""
    settings = {}
    for part in parts:
        key, _, text = part.partition("=")
        if not key or not text:
            raise ConfigError(f"option {option}: '{spec}': expected ':key=value' after the mode, got ':{part}'")
        if key == "bidirectional":
            raise ConfigError(f"option {option}: '{spec}': the mode sets bidirectional; name the mode instead")
        settings[key] = parse_value(text)
    return settings


def model_modes(spec, option="--models"):
    """The rows one model spec means: 'HydraRec' → both modes; 'HydraRec:causal' → one;
    'HydraRec:causal:train_scheme=prefix' → one, with that setting; any other RecBole model → one
    row in its own mode, which may take ':key=value' settings too ('SASRec:n_layers=1').
    """
    name, *parts = spec.split(":")
    sequential_model_class(name, option)
    mode = parts.pop(0) if parts and "=" not in parts[0] else ""
    settings = _row_settings(spec, parts, option)
    variant = ":".join(f"{key}={value}" for key, value in sorted(settings.items()))
    if name in PLUGIN_MODELS:
        if mode and mode not in HYDRAREC_MODES:
            raise ConfigError(f"option {option}: mode '{mode}' of {name} must be one of {list(HYDRAREC_MODES)}")
        modes = [mode] if mode else list(HYDRAREC_MODES)
        return [Row(name, m, variant, {"bidirectional": HYDRAREC_MODES[m], **settings}) for m in modes]
    if mode:
        raise ConfigError(f"option {option}: '{spec}': only {', '.join(PLUGIN_MODELS)} take a ':mode' suffix")
    return [Row(name, recbole_mode(name), variant, settings)]


def expand_models(specs, option="--models"):
    """The Rows of a --models list; each (model, mode, variant) once."""
    rows = [row for spec in specs for row in model_modes(spec, option)]
    if len({row.key for row in rows}) < len(rows):
        raise ConfigError(f"option {option} lists a model twice: {list(specs)}")
    return rows


def check_no_mode_setting(common):
    """The mode is part of the model list: a shared --bidirectional would silently lose to it."""
    if "bidirectional" in common:
        raise ConfigError("--bidirectional applies to HydraRec only: list HydraRec:causal or HydraRec:bidirectional")
