"""The grid every experiment shares: one evaluation protocol, the rows a model list means, and their runs.

compare, tune and bench all read a `--models` list the same way: HydraRec stands for both of
its modes (`HydraRec:causal` for one), RecBole's sequential models for one row each; a row may
add its own settings (`HydraRec:causal:train_scheme=prefix`), so one table can hold variants.

Followed as data, a spec becomes its Rows (`model_modes`), a Row with its settings a run of one
seed (`Row.entry` → Entry), and a whole list the runs of a comparison (`plan_runs`), all here.
"""

import dataclasses
import hashlib
import json
import os
import re
from typing import NamedTuple

from recbole_hydra.config_errors import ConfigError
from recbole_hydra.experiments.grids.budget import budget_of, check_one_budget
from recbole_hydra.runtime.checkpoints import last_checkpoint_path
from recbole_hydra.runtime.config import build_config, parse_value, read_config_files
from recbole_hydra.runtime.datasets import check_dataset
from recbole_hydra.runtime.model_names import PLUGIN_MODELS, sequential_model_class
from recbole_hydra.runtime.train_scheme import scheme_for

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

    def entry(self, common, seed):
        """The run of this row with `seed`, and its exact settings."""
        return Entry(self.model, self.mode, self.variant, seed, {**self.run_settings(common), "seed": seed})


# Where a run's files go is not one of its settings.
LOCATION_KEYS = ("checkpoint_dir",)


def settings_digest(settings):
    """12 hex digits that change with any of `settings` (written to each CSV row as settings_hash)."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


@dataclasses.dataclass(frozen=True)
class Entry:
    """One run of the grid: a model in one mode (and variant) with one seed, and the exact settings it runs with."""

    model: str
    mode: str
    variant: str
    seed: int
    settings: dict

    @property
    def name(self):
        variant = "-" + re.sub(r"[^A-Za-z0-9_.=+-]", "_", self.variant) if self.variant else ""
        return f"{self.model}-{self.mode}{variant}-{self.seed}"

    @property
    def key(self):
        return (self.model, self.mode, self.variant, str(self.seed))

    @property
    def settings_hash(self):
        """The run's settings, but not where its files go: a moved results folder still holds the same runs."""
        return settings_digest({key: value for key, value in self.settings.items() if key not in LOCATION_KEYS})

    @property
    def accepted_hashes(self):
        """The hashes a finished row of this run may carry: today's, and the one rows written before
        the hash left out LOCATION_KEYS carry (valid only in the folder they were written to)."""
        return {self.settings_hash, settings_digest(self.settings)}

    @property
    def checkpoint_file(self):
        """One file per run and settings: a rerun finds the -last.pth of its own cut-short run,
        never one trained with other settings."""
        return self._checkpoint_named(self.settings_hash)

    def resume_file(self):
        """The last-epoch checkpoint this run left when it was cut short (under either accepted hash), or None."""
        names = [self.checkpoint_file, self._checkpoint_named(settings_digest(self.settings))]
        return next((last for last in map(last_checkpoint_path, names) if os.path.isfile(last)), None)

    def _checkpoint_named(self, settings_hash):
        return os.path.join(self.settings["checkpoint_dir"], f"{self.name}-{settings_hash}.pth")


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


def shared_settings(config_files, overrides):
    """The settings every row of a grid shares: the protocol < the user's files < the user's --key=value.

    `data_path` made absolute: runs and trials work in other folders (RecBole writes log/ into its
    working directory) or on other machines.
    """
    settings = {**PROTOCOL, **read_config_files(config_files), **overrides}
    settings["data_path"] = os.path.abspath(settings.get("data_path", "dataset/"))
    return settings


def with_tuned(rows, tuned):
    """Each row's own settings with its tuned config under them (the mode and the row's settings win)."""
    tuned = tuned or {}
    return [row._replace(settings={**tuned.get(row.key, {}), **row.settings}) for row in rows]


def plan_runs(models, dataset, seeds, common, tuned=None):
    """(every Entry of the grid, seed-major, and the one training budget all of them share).

    A partial run is a full comparison with fewer seeds. `tuned`: {(model, mode, variant): settings}
    from `tune`, on top of the shared settings. Builds each model's config once, so a bad model name,
    key or value, a row with its own budget (budget.py), or a bad dataset fails before anything runs.
    """
    check_no_mode_setting(common)
    first_seed = common.get("seed", 2020)
    if not isinstance(first_seed, int) or isinstance(first_seed, bool):
        raise ConfigError(f"--seed must be an integer (the first of the seeds), got {first_seed!r}")
    rows = with_tuned(expand_models(models), tuned)
    budgets = {}
    for row in rows:
        config = build_config(row.model, dataset, overrides=row.entry(common, first_seed).settings)
        budgets[row.spec] = budget_of(config)
    if rows:  # every row reads the same dataset: checked once
        _check_data(config)
    entries = [row.entry(common, seed) for seed in range(first_seed, first_seed + seeds) for row in rows]
    return entries, check_one_budget(budgets)


def _check_data(config):
    """The dataset's files, as every path that trains checks them; and first that its folder exists: a
    grid does not wait for RecBole to download a dataset (ml-100k ships with RecBole)."""
    if config["dataset"] != "ml-100k" and not os.path.isdir(config["data_path"]):
        raise ConfigError(
            f"dataset '{config['dataset']}' not found: expected RecBole atomic files in {config['data_path']} "
            "(ml-100k ships with RecBole; point --data_path=DIR at the folder holding <dataset>/)"
        )
    check_dataset(config)


def planned_entry(key, seed, common, tuned=None):
    """The Entry that `plan_runs` makes for (model, mode, variant) `key` and `seed` under these settings;
    None where no spec means that key (a row written by another version, say)."""
    try:
        rows = model_modes(Row(*key, {}).spec)
    except ConfigError:
        return None
    planned = [row for row in with_tuned(rows, tuned) if row.key == key]
    return planned[0].entry(common, seed) if planned else None
