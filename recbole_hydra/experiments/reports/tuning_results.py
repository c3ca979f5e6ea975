"""A `tune` output folder: its layout and its summary, and, read back, each search's settings and the
best configs for `compare --tuned`.

Tuning selects each model's config on the validation metric; `compare --tuned` then trains that
config over several seeds and tests it: the protocol for a comparison of tuned models, where no
number ever steers a choice on the test set.
"""

import json
import os
import re

from recbole_hydra.config_errors import ConfigError
from recbole_hydra.experiments.reports.tables import format_table, read_rows
from recbole_hydra.runtime.config import plain

# The layout of a `tune` output folder, written by tune.py and read here.
SUMMARY_NAME = "tuning_summary.csv"  # one row per search: status, best scores, best_config, test metrics
TRIALS_NAME = "trials.csv"  # one row per trial
RAY_DIR = "ray_results"
# The columns of those files, first and last (the metrics and a trial's settings in between).
SUMMARY_FIRST = ["model", "mode", "variant", "train_scheme", "status", "trials", "failed_trials"]
SUMMARY_LAST = ["best_config", "experiment", "checkpoint"]
TRIALS_FIRST = ["model", "mode", "variant", "train_scheme", "trial", "status", "epochs"]
PLACE = ["node_id", "host", "device"]  # where a trial ran, reported with its scores
# Settings a search sets for itself (or that say where files go): no reason to warn when they differ.
_SEARCH_ONLY = {"epochs", "eval_step", "state", "checkpoint_dir", "show_progress"}


def search_name(key):
    """A search's name in files: <Model>-<mode>, and -<variant> for a row with its own settings."""
    model, mode, variant = key
    return f"{model}-{mode}" + ("-" + re.sub(r"[^A-Za-z0-9_.=+-]", "_", variant) if variant else "")


def search_key(row):
    """(model, mode, variant) of a summary or trials row; summaries written before variants have none."""
    return (row.get("model"), row.get("mode"), row.get("variant") or "")


def search_settings_file(output_dir, key):
    """Where a search keeps the settings it ran with: DIR/ray_results/<search name>.json."""
    return os.path.join(output_dir, RAY_DIR, f"{search_name(key)}.json")


def summary_path(path):
    """`path` itself, or the tuning_summary.csv inside a `tune --output` folder."""
    path = os.path.abspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, SUMMARY_NAME)
    if not os.path.isfile(path):
        raise ConfigError(f"--tuned: {path} does not exist; expected a `tune` output folder or its {SUMMARY_NAME}")
    return path


def best_config_cell(config):
    """A trial's config as the summary's `best_config` cell: JSON, so that values keep their types."""
    return json.dumps(plain(config), sort_keys=True)


def best_config_of(row, path):
    """The config in a summary row's `best_config` cell (from `best_config_cell`); None if empty."""
    if not row.get("best_config"):
        return None
    try:
        config = json.loads(row["best_config"])
    except json.JSONDecodeError as error:
        raise ConfigError(
            f"{path}: best_config of {row.get('model')} ({row.get('mode')}) is not JSON ({error})"
        ) from None
    if not isinstance(config, dict):
        raise ConfigError(
            f"{path}: best_config of {row.get('model')} ({row.get('mode')}) must be a JSON object, got {config!r}"
        )
    return config


def read_tuned(path, grid_rows):
    """{(model, mode, variant): best config} for every compared row, from a tuning summary file.

    Every compared row must have a finished search: a table that mixes tuned and untuned models
    would favour the tuned ones.
    """
    rows = {search_key(row): row for row in read_rows(path)}
    if not rows or not all(model and mode for model, mode, _ in rows):
        raise ConfigError(
            f"--tuned: {path} is not a tuning summary (expected the columns model, mode, "
            "status and best_config, one row per search)"
        )
    tuned, missing = {}, []
    for grid_row in grid_rows:
        row = rows.get(grid_row.key)
        config = None
        if row is not None and row.get("status", "").startswith("ok"):
            try:
                config = best_config_of(row, path)
            except ConfigError as error:
                raise ConfigError(f"--tuned: {error}") from None
        if config is None:
            state = "not searched" if row is None else f"status '{row.get('status', '')}'"
            missing.append(f"{_label(grid_row.key)}: {state}")
            continue
        tuned[grid_row.key] = config
    if missing:
        raise ConfigError(
            f"--tuned: {path} has no tuned config for {'; '.join(missing)}; tune those models "
            "first, or leave them out of --models"
        )
    return tuned


def _label(key):
    model, mode, variant = key
    return f"{model} ({mode}{', ' + variant if variant else ''})"


def check_no_overlap(tuned, common):
    """A key set both by the search and by this command: say so rather than pick one silently."""
    for key, config in tuned.items():
        both = sorted(set(config) & set(common))
        if both:
            raise ConfigError(
                f"--tuned sets {', '.join(both)} for {_label(key)}, and so does this command "
                "(--key=value or --config_files); drop one of them"
            )


def search_differences(path, key, common):
    """Shared settings that differ from those the search of `key` ran with: [(setting, then, now)].

    The summary file's folder keeps each search's settings in ray_results/<search name>.json; [] if absent.
    """
    recorded_file = search_settings_file(os.path.dirname(path), key)
    if not os.path.isfile(recorded_file):
        return []
    with open(recorded_file, encoding="utf-8") as f:
        searched = json.load(f).get("settings", {})
    settings = (set(searched) | set(common)) - _SEARCH_ONLY - {"bidirectional", "train_scheme"}
    return [
        (setting, searched.get(setting, "(default)"), common.get(setting, "(default)"))
        for setting in sorted(settings)
        if json.dumps(searched.get(setting), sort_keys=True, default=str)
        != json.dumps(common.get(setting), sort_keys=True, default=str)
    ]


def summary_markdown(rows, dataset, num_samples, max_epochs):
    """tuning_summary.md: each search's best validation score, its test metrics and its best config."""
    metrics = []
    for row in rows:
        metrics += [key for key in row if key.startswith(("best_valid_", "test_")) and key not in metrics]
    shown = [key for key in metrics if key.startswith("best_valid_") or key.endswith("@10")]
    table_rows = []
    for row in rows:
        config = best_config_of(row, SUMMARY_NAME) or {}
        table_rows.append({**row, "best_config": ", ".join(f"{k}={_short(v)}" for k, v in config.items())})
    table = format_table(table_rows, SUMMARY_FIRST + shown + ["best_epoch", "best_config"])
    return (
        f"# Tuning on {dataset}\n\nEach model and mode: {num_samples} trials of at most {max_epochs} epochs "
        "(ASHA early stopping on the validation metric, Optuna TPE). Test metrics: the best trial's "
        "best-validation checkpoint, evaluated once after the search.\n\n" + table + "\n"
    )


def _short(value):
    return f"{value:.4g}" if isinstance(value, float) else value
