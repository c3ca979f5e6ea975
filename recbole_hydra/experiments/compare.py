"""Several models × seeds under one evaluation protocol: rows in a CSV, a summary table, a plot.

Each (model, mode, seed) run trains and tests in its own process, which a runner starts:
`compare(runner=...)` says where the runs go, `runners.local.run_in_subprocess` (this machine, the
default) or `runners.cluster.RayRunner` (a Ray cluster). Every finished run is written to
DIR/comparison.csv at once, so a rerun skips it; a run cut short (Ctrl-C, a kill, the end of a
session) goes on from its last finished epoch.
"""

import dataclasses
import hashlib
import json
import os
import re
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

import yaml

from recbole_hydra.experiments.grids.budget import budget_of, check_one_budget
from recbole_hydra.experiments.grids.grid import PROTOCOL, Row, check_no_mode_setting, expand_models, model_modes
from recbole_hydra.experiments.reports.comparison_report import settings_section, write_reports
from recbole_hydra.experiments.reports.tables import format_elapsed, read_rows, reference_label, write_rows
from recbole_hydra.experiments.reports.tuning_results import (
    check_no_overlap,
    read_tuned,
    search_differences,
    summary_path,
)
from recbole_hydra.experiments.runners.local import console_path, run_in_subprocess
from recbole_hydra.files import write_atomic
from recbole_hydra.runtime.checkpoints import last_checkpoint_path
from recbole_hydra.runtime.config import build_config, plain, read_config_files
from recbole_hydra.runtime.datasets import check_dataset
from recbole_hydra.runtime.train_scheme import scheme_for
from recbole_hydra.validation import ConfigError

DEFAULT_REFERENCE = ("SASRec", "causal", "")  # cost ratios in comparison.md are over this row when compared

CSV_NAME = "comparison.csv"
FIRST_COLUMNS = ["model", "mode", "variant", "train_scheme", "seed", "status", "ranking"]
COST_COLUMNS = [
    "best_epoch",
    "stopped_by",
    "budget_capped",
    "epochs_run",
    "train_seconds_per_epoch",
    "train_seconds",
    "inference_seconds",
    "peak_memory_mb",
    "peak_memory_kind",
    "parameters",
]
# node_id: the Ray node a run finished on ('' on this machine); host: that machine's name.
LAST_COLUMNS = ["threads", "device", "node_id", "host", "settings_hash", "config_file", "checkpoint", "error"]


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
        text = json.dumps(self.settings, sort_keys=True, default=str)
        return hashlib.sha1(text.encode()).hexdigest()[:12]

    @property
    def checkpoint_file(self):
        """One file per run and settings: a rerun finds the -last.pth of its own cut-short run,
        never one trained with other settings."""
        return os.path.join(self.settings["checkpoint_dir"], f"{self.name}-{self.settings_hash}.pth")

    def resume_file(self):
        """The last-epoch checkpoint this run left when it was cut short, or None."""
        last = last_checkpoint_path(self.checkpoint_file)
        return last if os.path.isfile(last) else None


# ----- the grid -----------------------------------------------------------------------


def resolve_references(specs, rows):
    """The --reference list as (model, mode, variant) keys of rows in this comparison.

    Without the option, SASRec is the reference when it is compared (the issue's ask); a
    reference the user names must be one of the --models rows, else its ratios would be empty.
    """
    compared = [row.key for row in rows]
    if specs is None:
        return [DEFAULT_REFERENCE] if DEFAULT_REFERENCE in compared else []
    references = []
    for spec in specs:
        keys = [row.key for row in model_modes(spec, option="--reference")]
        if len(keys) > 1:
            raise ConfigError(f"--reference: '{spec}' is {len(keys)} rows; name one, e.g. {spec}:{keys[0][1]}")
        if keys[0] not in compared:
            raise ConfigError(
                f"--reference: '{spec}' is not one of the compared rows "
                f"({', '.join(reference_label(key) for key in compared)})"
            )
        if keys[0] not in references:
            references.append(keys[0])
    return references


def with_tuned(rows, tuned):
    """Each row's own settings with its tuned config under them (the mode and the row's settings win)."""
    tuned = tuned or {}
    return [row._replace(settings={**tuned.get(row.key, {}), **row.settings}) for row in rows]


def run_settings(row, common, seed):
    """The exact settings of one run: the row's (Row.run_settings) and its seed."""
    return {**row.run_settings(common), "seed": seed}


def common_settings(config_files, overrides, output_dir):
    """Protocol < the user's files < the user's --key=value, with paths made absolute.

    Absolute because each run changes into DIR (RecBole writes log/ into its working directory).
    """
    settings = {**PROTOCOL, **read_config_files(config_files), **overrides}
    settings["data_path"] = os.path.abspath(settings.get("data_path", "dataset/"))
    settings.setdefault("checkpoint_dir", os.path.join(output_dir, "saved"))
    settings["checkpoint_dir"] = os.path.abspath(settings["checkpoint_dir"])
    settings.setdefault("show_progress", False)
    return settings


def plan(models, dataset, seeds, common, tuned=None):
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
        config = build_config(row.model, dataset, overrides=run_settings(row, common, first_seed))
        budgets[row.spec] = budget_of(config)
        if dataset != "ml-100k" and not os.path.isdir(config["data_path"]):
            raise ConfigError(
                f"dataset '{dataset}' not found: expected RecBole atomic files in {config['data_path']} "
                "(ml-100k ships with RecBole; point --data_path=DIR at the folder holding <dataset>/)"
            )
    check_dataset(config)  # once: every row reads the same dataset
    entries = [
        Entry(row.model, row.mode, row.variant, seed, run_settings(row, common, seed))
        for seed in range(first_seed, first_seed + seeds)
        for row in rows
    ]
    return entries, check_one_budget(budgets)


# ----- rows and files ---------------------------------------------------------------------


def write_comparison(path, rows):
    write_rows(path, rows, first=FIRST_COLUMNS, last=COST_COLUMNS + LAST_COLUMNS)


def row_key(row):
    """(model, mode, variant, seed) of a CSV row; rows written before variants existed have none."""
    return (row["model"], row["mode"], row.get("variant") or "", str(row["seed"]))


def upsert(rows, row, order=()):
    """rows with `row` replacing any row of the same (model, mode, variant, seed), in grid order.

    `order`: the keys of this command's runs, as planned; their rows follow it, whichever run
    finished first (one after the other, side by side or on a cluster: the same file). Other
    rows (models this command does not list) stay in front, as they were.
    """
    position = {key: index for index, key in enumerate(order)}
    rows = [r for r in rows if row_key(r) != row_key(row)] + [row]
    return sorted(rows, key=lambda r: position.get(row_key(r), -1))


def _identity(entry):
    """The columns that say which run a row is."""
    return {
        "model": entry.model,
        "mode": entry.mode,
        "variant": entry.variant,
        "train_scheme": scheme_for(entry.model, entry.settings),
        "seed": entry.seed,
    }


def result_row(entry, result, where, threads, config_file):
    test = {f"test_{name}": value for name, value in result["test_result"].items()}
    # With exclude_seen, the same model ranked over all items too (RecBole's protocol), for tables that show both.
    test.update({f"test_all_items_{name}": value for name, value in result.get("test_result_all_items", {}).items()})
    valid_metric = entry.settings["valid_metric"].lower()
    return {
        **_identity(entry),
        "status": "ok",
        "ranking": result.get("ranking", "all items"),
        **test,
        f"valid_{valid_metric}": result["best_valid_score"],
        "best_epoch": result["best_epoch"],
        "stopped_by": result.get("stopped_by", ""),
        "budget_capped": "yes" if result.get("budget_capped") else "",
        "epochs_run": result["epochs_run"],
        "train_seconds_per_epoch": result["train_seconds_per_epoch"],
        "train_seconds": result["train_seconds_per_epoch"] * result["epochs_run"],
        "inference_seconds": result["inference_seconds"],
        "peak_memory_mb": result["peak_memory_mb"],
        "peak_memory_kind": result["peak_memory_kind"],
        "parameters": result["parameters"],
        "threads": threads or "",
        **_place(where),
        "settings_hash": entry.settings_hash,
        "config_file": config_file,
        "checkpoint": result["checkpoint"],
        "error": "",
    }


def with_relative_paths(row, output_dir):
    """`row` with its file columns relative to DIR where they lie inside it: a moved, copied or
    committed result folder still points at its own configs and checkpoints."""
    row = dict(row)
    for column in ("config_file", "checkpoint"):
        path = row.get(column)
        if path and os.path.isabs(path) and os.path.commonpath([path, output_dir]) == output_dir:
            row[column] = os.path.relpath(path, output_dir)
    return row


def _place(where):
    """The device, node_id and host columns of a row (empty where a run failed before it knew)."""
    where = where or {}
    return {column: where.get(column, "") for column in ("device", "node_id", "host")}


def failed_row(entry, error, threads, config_file, where=None):
    return {
        **_identity(entry),
        "status": "failed",
        "threads": threads or "",
        **_place(where),
        "settings_hash": entry.settings_hash,
        "config_file": config_file,
        "error": error,
    }


def write_entry_config(entry, dataset, output_dir):
    """DIR/configs/<name>.yaml: the exact settings of one run, usable with `train --config_files`."""
    folder = os.path.join(output_dir, "configs")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{entry.name}.yaml")
    header = (
        f"# Settings of the {entry.model} ({entry.mode}) seed {entry.seed} run on {dataset}, on top of the\n"
        f"# defaults of RecBole 1.2.1 and recbole-hydra. Reproduce it with:\n"
        f"#   python run_hydrarec.py train --model {entry.model} --dataset {dataset} --config_files {path}\n"
        f"# {entry.name}.resolved.yaml beside it holds every key RecBole resolved.\n"
    )
    write_atomic(path, header + yaml.safe_dump(plain(entry.settings), sort_keys=True))
    return path


def write_resolved_config(entry, resolved, output_dir):
    path = os.path.join(output_dir, "configs", f"{entry.name}.resolved.yaml")
    write_atomic(path, yaml.safe_dump(resolved, sort_keys=True))


# ----- the whole comparison ------------------------------------------------------------------


def _refuse_mixed_settings(rows, common, replaced, csv_path, tuned=None):
    """Every finished row in the CSV must come from the settings of this command (one table, one protocol).

    A row's settings are `common` plus what its model, mode (and tuned config) and seed add, so each
    row can be checked, also rows of models this command does not list. `replaced` rows (--redo)
    will be run again.
    """
    stale = []
    for row in rows:
        if row.get("status") != "ok" or row_key(row) in replaced:
            continue
        variant = row.get("variant") or ""
        key = (row["model"], row["mode"], variant)
        planned = [r for r in with_tuned(_safe_modes(Row(*key, {}).spec), tuned) if r.key == key]
        seed = int(row["seed"])
        expected = Entry(
            row["model"], row["mode"], variant, seed, run_settings(planned[0], common, seed) if planned else {}
        )
        if not planned or row.get("settings_hash") != expected.settings_hash:
            stale.append(expected.name)
    if stale:
        raise ConfigError(
            f"{csv_path} holds results made with other settings ({', '.join(stale)}); use another --output"
            + (", or --redo to run them again" if not replaced else "")
        )


def _safe_modes(model):
    try:
        return model_modes(model)
    except ConfigError:
        return []


def compare(
    models,
    dataset,
    seeds=3,
    output_dir="comparison",
    config_files=(),
    overrides=None,
    threads=None,
    jobs=1,
    redo=False,
    command=None,
    references=None,
    tuned=None,
    runner=run_in_subprocess,
):
    """Train and test every (model, mode, variant, seed) not yet in DIR/comparison.csv; returns the markdown.

    `jobs` runs train side by side, each in its own process with `threads` torch threads (None: every
    pending run at once, for a runner that queues them itself, such as a Ray cluster's).
    `references` (model specs, default SASRec) are the rows the table's cost ratios divide by.
    `tuned`: a `tune` output folder (or its tuning_summary.csv); each model runs its best config.
    """
    output_dir = os.path.abspath(output_dir)
    common = common_settings(config_files, dict(overrides or {}), output_dir)
    grid_rows = expand_models(models)
    tuned_file = summary_path(tuned) if tuned else None
    tuned_configs = read_tuned(tuned_file, grid_rows) if tuned else {}
    check_no_overlap(tuned_configs, common)
    entries, budget = plan(models, dataset, seeds, common, tuned_configs)
    reference_keys = resolve_references(references, grid_rows)
    os.makedirs(output_dir, exist_ok=True)
    csv_path = os.path.join(output_dir, CSV_NAME)
    rows = read_rows(csv_path)
    done = {row_key(r) for r in rows if r.get("status") == "ok"}
    _refuse_mixed_settings(rows, common, {e.key for e in entries} if redo else set(), csv_path, tuned_configs)
    pending = [e for e in entries if redo or e.key not in done]
    order = [e.key for e in entries]
    jobs = jobs or max(len(pending), 1)
    command = command or " ".join(sys.argv)
    with open(os.path.join(output_dir, "command.txt"), "a", encoding="utf-8") as f:
        f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')}  {command}\n")
    placement = getattr(runner, "placement", None) or f"runs side by side: {jobs}"
    settings_text = settings_section(
        common, sorted({e.seed for e in entries}), threads, placement, command, tuned_configs, tuned, budget
    )
    metric = "test_" + common["valid_metric"].lower()

    print(
        f"compare: {len(entries)} runs on {dataset}, {len(entries) - len(pending)} already in {csv_path}, "
        f"{len(pending)} to run" + (f", {placement}" if jobs > 1 else ""),
        flush=True,
    )
    for search in tuned_configs:
        for key, then, now in search_differences(tuned_file, search, common):
            print(
                f"compare: note: the search of {reference_label(search)} ran with {key}={then}, "
                f"this comparison uses {now}",
                flush=True,
            )
    start = time.monotonic()
    labels = {entry.key: f"[{index}/{len(pending)}] {entry.name}" for index, entry in enumerate(pending, 1)}

    def run_one(entry):
        """Runs in a pool thread that waits on the entry's own process; returns its CSV row."""
        where = f" (output: {console_path(output_dir, entry)})" if jobs > 1 else ""
        resumed = f", resumed from {entry.resume_file()}" if entry.resume_file() else ""
        print(
            f"{labels[entry.key]} started - elapsed {format_elapsed(time.monotonic() - start)}{resumed}{where}",
            flush=True,
        )
        config_file = write_entry_config(entry, dataset, output_dir)
        try:
            result, resolved, where = runner(entry, dataset, threads, output_dir, quiet=jobs > 1)
            write_resolved_config(entry, resolved, output_dir)
            row = result_row(entry, result, where, threads, config_file)
        except BrokenProcessPool as error:
            died = "the run's process died (killed, or out of memory)"
            row = failed_row(entry, died, threads, config_file, getattr(error, "where", None))
        except Exception as error:  # one failed run must not stop the others
            traceback.print_exception(error)
            text = f"{type(error).__name__}: {error}".replace("\n", " ")
            # A runner on a cluster tells where the run failed in the error's `where`.
            row = failed_row(entry, text, threads, config_file, getattr(error, "where", None))
        return with_relative_paths(row, output_dir)

    # Threads only wait: each run trains in its own process. The pool takes entries in order,
    # so a cut-short comparison still holds whole seeds. Only this thread writes the files.
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="compare")
    futures = {pool.submit(run_one, entry): entry for entry in pending}
    try:
        for future in as_completed(futures):
            entry, row = futures[future], future.result()
            on = f" on {row['host']} (node {row['node_id'][:8]})" if row.get("node_id") else ""
            if row["status"] == "ok":
                print(
                    f"{labels[entry.key]}: {metric} {row.get(metric, float('nan')):.4f}, best epoch "
                    f"{row['best_epoch']}, {row['train_seconds_per_epoch']:.1f} s/epoch{on}",
                    flush=True,
                )
            else:
                print(f"{labels[entry.key]} FAILED{on}: {row['error']}", file=sys.stderr, flush=True)
            rows = upsert(read_rows(csv_path), row, order)
            write_comparison(csv_path, rows)
            write_reports(rows, output_dir, dataset, settings_text, metric, reference_keys)
    except KeyboardInterrupt:
        if hasattr(runner, "stop"):  # runs elsewhere (a Ray cluster) do not get this process's Ctrl-C
            runner.stop()
        print(
            "\ncompare: interrupted; finished runs are in the CSV, and a run cut short goes on from its "
            "last finished epoch: rerun the same command to resume",
            file=sys.stderr,
            flush=True,
        )
        raise
    finally:
        # On Ctrl-C the runs in progress stop too (their processes get the signal); runs not yet
        # started are dropped.
        pool.shutdown(wait=True, cancel_futures=True)

    text = write_reports(read_rows(csv_path), output_dir, dataset, settings_text, metric, reference_keys)
    print(f"\ncompare: finished in {format_elapsed(time.monotonic() - start)}; results in {output_dir}\n", flush=True)
    return text
