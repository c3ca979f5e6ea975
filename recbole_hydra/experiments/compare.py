"""Several models × seeds under one evaluation protocol: rows in a CSV, a summary table, a plot.

Each (model, mode, seed) run trains and tests in its own process, which a runner starts:
`compare(runner=...)` says where the runs go, `runners.local.run_in_subprocess` (this machine, the
default) or `runners.cluster.RayRunner` (a Ray cluster). Every finished run is written to
DIR/comparison.csv at once, so a rerun skips it; a run cut short (Ctrl-C, a kill, the end of a
session) goes on from its last finished epoch.
"""

import dataclasses
import os
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

import yaml

from recbole_hydra.config_errors import ConfigError
from recbole_hydra.experiments.grids.grid import (
    Entry,
    expand_models,
    model_modes,
    plan_runs,
    planned_entry,
    shared_settings,
)
from recbole_hydra.experiments.reports.claims_report import resolved_config
from recbole_hydra.experiments.reports.comparison_report import settings_section, write_reports
from recbole_hydra.experiments.reports.tables import (
    format_elapsed,
    read_rows,
    record_command,
    reference_label,
    write_rows,
)
from recbole_hydra.experiments.reports.tuning_results import (
    check_no_overlap,
    read_tuned,
    search_differences,
    summary_path,
)
from recbole_hydra.experiments.runners.local import console_path, run_in_subprocess
from recbole_hydra.files import write_atomic
from recbole_hydra.runtime.config import build_config, plain
from recbole_hydra.runtime.model_names import PLUGIN_MODELS
from recbole_hydra.runtime.run_checks import ResolvedSettings, training_settings
from recbole_hydra.runtime.train_scheme import scheme_for

DEFAULT_REFERENCE = ("SASRec", "causal", "")  # cost ratios in comparison.md are over this row when compared

CSV_NAME = "comparison.csv"
# Progress lines come from the pool's threads and the main thread at once; print() writes the text
# and its newline separately, so two lines could run together.
_PROGRESS_LOCK = threading.Lock()
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


# ----- the references of the table ----------------------------------------------------------


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


@dataclasses.dataclass
class Plan:
    """What one compare command runs (grids/grid.py planned it) and where it writes."""

    dataset: str
    output_dir: str
    common: dict  # the settings every run shares
    entries: list  # every run of the grid, seed-major
    budget: dict  # the one training budget of every run
    references: list  # the row keys the table's ratios divide by
    tuned: dict  # {(model, mode, variant): best config} from `tune`
    tuned_file: str = None

    @property
    def csv_path(self):
        return os.path.join(self.output_dir, CSV_NAME)

    @property
    def metric(self):
        """The test metric named in progress lines: the one validation selects on."""
        return "test_" + self.common["valid_metric"].lower()


def plan_comparison(models, dataset, seeds, output_dir, config_files, overrides, references, tuned):
    """Every check that needs no run, before anything is written: settings, models, tuned configs, budget, data."""
    output_dir = os.path.abspath(output_dir)
    common = shared_settings(config_files, dict(overrides or {}))
    # Absolute: each run changes into DIR (RecBole writes log/ into its working directory).
    common["checkpoint_dir"] = os.path.abspath(common.get("checkpoint_dir", os.path.join(output_dir, "saved")))
    common.setdefault("show_progress", False)
    rows = expand_models(models)
    tuned_file = summary_path(tuned) if tuned else None
    tuned_configs = read_tuned(tuned_file, rows) if tuned else {}
    check_no_overlap(tuned_configs, common)
    entries, budget = plan_runs(models, dataset, seeds, common, tuned_configs)
    reference_keys = resolve_references(references, rows)
    return Plan(dataset, output_dir, common, entries, budget, reference_keys, tuned_configs, tuned_file)


def pending_runs(plan, redo):
    """The runs not yet in the CSV (all with `redo`); the CSV's finished rows must share this plan's settings."""
    rows = read_rows(plan.csv_path)
    replaced = {entry.key for entry in plan.entries} if redo else set()
    _refuse_mixed_settings(rows, plan, replaced)
    done = {row_key(row) for row in rows if row.get("status") == "ok"}
    return [entry for entry in plan.entries if redo or entry.key not in done]


def _refuse_mixed_settings(rows, plan, replaced):
    """Every finished row in the CSV must come from the settings of this command (one table, one protocol).

    A row's settings are the shared ones plus what its model, mode (and tuned config) and seed add,
    so each row can be checked, also rows of models this command does not list. `replaced` rows
    (--redo) will be run again.
    """
    stale, matching = [], []
    for row in rows:
        if row.get("status") != "ok" or row_key(row) in replaced:
            continue
        key, seed = (row["model"], row["mode"], row.get("variant") or ""), int(row["seed"])
        expected = planned_entry(key, seed, plan.common, plan.tuned)
        if expected is None or row.get("settings_hash") not in expected.accepted_hashes:
            stale.append(Entry(*key, seed, {}).name)
        else:
            matching.append((row, expected))
    if stale:
        raise ConfigError(
            f"{plan.csv_path} holds results made with other settings ({', '.join(stale)}); use another --output"
            + (", or --redo to run them again" if not replaced else "")
        )
    changed = _changed_defaults(matching, plan)
    if changed:
        runs_by_change = {}
        for name, key, then, now in changed:
            runs_by_change.setdefault((key, then, now), []).append(name)
        changes = "; ".join(
            f"{', '.join(names)} ran with {key}={then!r}, this code gives {now!r}"
            for (key, then, now), names in runs_by_change.items()
        )
        raise ConfigError(
            f"{plan.csv_path} holds results made under other defaults ({changes}): a default changed since "
            "they ran. To add to that table, set the old value in the model spec (e.g. HydraRec:causal:KEY=OLD); "
            "else use another --output" + (", or --redo to run them again" if not replaced else "")
        )


def _changed_defaults(matching, plan):
    """Of the finished rows whose settings hash matches this plan ((row, its planned Entry) pairs),
    those of our models whose resolved model settings (configs/<run>.resolved.yaml) differ from what
    this code resolves for the same spec: [(run, key, then, now)], the first key each.

    The settings hash covers what a command sets, not the defaults beneath it, so without this a
    changed default would let old rows pass for new ones in one table. RecBole's models are pinned
    by its version; rows without a resolved file (older folders) cannot be checked.
    """
    changed, now_by_key = [], {}
    for row, expected in matching:
        saved = resolved_config(row, plan.output_dir) if row["model"] in PLUGIN_MODELS else None
        if saved is None:
            continue
        key = row_key(row)[:3]  # (model, mode, variant)
        if key not in now_by_key:  # one Config per (model, mode, variant): the seed changes no default
            now_by_key[key] = training_settings(build_config(key[0], plan.dataset, overrides=expected.settings))
        try:
            then = training_settings(ResolvedSettings(saved))
        except ConfigError:  # a file too incomplete to read as a run's settings: nothing to check against
            continue
        differing = [name for name, value in now_by_key[key].items() if then.get(name) != value]
        if differing:
            name = differing[0]
            changed.append((expected.name, name, then.get(name), now_by_key[key][name]))
    return changed


def _announce(plan, pending, jobs, placement):
    """What is about to run, and where a tuned config's search ran with other shared settings."""
    print(
        f"compare: {len(plan.entries)} runs on {plan.dataset}, {len(plan.entries) - len(pending)} already in "
        f"{plan.csv_path}, {len(pending)} to run" + (f", {placement}" if jobs > 1 else ""),
        flush=True,
    )
    for search in plan.tuned:
        for key, then, now in search_differences(plan.tuned_file, search, plan.common):
            print(
                f"compare: note: the search of {reference_label(search)} ran with {key}={then}, "
                f"this comparison uses {now}",
                flush=True,
            )


def run_one(entry, plan, runner, threads, quiet):
    """Run one entry with `runner`, in the calling thread (which only waits); returns its CSV row.

    One failed run never stops the others: its failure is its row.
    """
    config_file = write_entry_config(entry, plan.dataset, plan.output_dir)
    try:
        result, resolved, where = runner(entry, plan.dataset, threads, plan.output_dir, quiet=quiet)
        write_resolved_config(entry, resolved, plan.output_dir)
        row = result_row(entry, result, where, threads, config_file)
    except BrokenProcessPool as error:
        died = "the run's process died (killed, or out of memory)"
        row = failed_row(entry, died, threads, config_file, getattr(error, "where", None))
    except Exception as error:
        traceback.print_exception(error)
        text = f"{type(error).__name__}: {error}".replace("\n", " ")
        # A runner on a cluster tells where the run failed in the error's `where`.
        row = failed_row(entry, text, threads, config_file, getattr(error, "where", None))
    return with_relative_paths(row, plan.output_dir)


def run_pending(plan, pending, runner, threads, jobs, write_row, start):
    """Run `pending`, `jobs` side by side; `write_row(row)` as each finishes, in this thread only.

    `start`: the comparison's start (time.monotonic()), for the elapsed time in progress lines.
    """
    labels = {entry.key: f"[{index}/{len(pending)}] {entry.name}" for index, entry in enumerate(pending, 1)}

    def started(entry):  # in the pool's thread, as the run starts
        where = f" (output: {console_path(plan.output_dir, entry)})" if jobs > 1 else ""
        resumed = f", resumed from {entry.resume_file()}" if entry.resume_file() else ""
        say(f"{labels[entry.key]} started - elapsed {format_elapsed(time.monotonic() - start)}{resumed}{where}")
        return run_one(entry, plan, runner, threads, quiet=jobs > 1)

    # Threads only wait: each run trains in its own process. The pool takes entries in order,
    # so a cut-short comparison still holds whole seeds. Only this thread writes the files.
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="compare")
    futures = {pool.submit(started, entry): entry for entry in pending}
    try:
        for future in as_completed(futures):
            entry, row = futures[future], future.result()
            _report_finished(labels[entry.key], row, plan.metric)
            write_row(row)
    except KeyboardInterrupt:
        if hasattr(runner, "stop"):  # runs elsewhere (a Ray cluster) do not get this process's Ctrl-C
            runner.stop()
        say(
            "\ncompare: interrupted; finished runs are in the CSV, and a run cut short goes on from its "
            "last finished epoch: rerun the same command to resume",
            sys.stderr,
        )
        raise
    finally:
        # On Ctrl-C the runs in progress stop too (their processes get the signal); runs not yet
        # started are dropped.
        pool.shutdown(wait=True, cancel_futures=True)


def _report_finished(label, row, metric):
    on = f" on {row['host']} (node {row['node_id'][:8]})" if row.get("node_id") else ""
    if row["status"] == "ok":
        say(
            f"{label}: {metric} {row.get(metric, float('nan')):.4f}, best epoch "
            f"{row['best_epoch']}, {row['train_seconds_per_epoch']:.1f} s/epoch{on}"
        )
    else:
        say(f"{label} FAILED{on}: {row['error']}", sys.stderr)


def say(line, stream=None):
    """Write one whole progress line (text and newline in one write), whichever thread calls."""
    stream = stream or sys.stdout
    with _PROGRESS_LOCK:
        stream.write(line + "\n")
        stream.flush()


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
    plan = plan_comparison(models, dataset, seeds, output_dir, config_files, overrides, references, tuned)
    os.makedirs(plan.output_dir, exist_ok=True)
    pending = pending_runs(plan, redo)
    jobs = jobs or max(len(pending), 1)
    command = record_command(plan.output_dir, command)
    placement = getattr(runner, "placement", None) or f"runs side by side: {jobs}"
    settings_text = settings_section(
        plan.common, sorted({e.seed for e in plan.entries}), threads, placement, command, plan.tuned, tuned, plan.budget
    )

    def write(rows):
        """comparison.md and comparison.png from the rows so far; returns the markdown."""
        return write_reports(rows, plan.output_dir, dataset, settings_text, plan.metric, plan.references)

    def write_row(row):
        rows = upsert(read_rows(plan.csv_path), row, [entry.key for entry in plan.entries])
        write_comparison(plan.csv_path, rows)
        write(rows)

    _announce(plan, pending, jobs, placement)
    start = time.monotonic()
    run_pending(plan, pending, runner, threads, jobs, write_row, start)
    text = write(read_rows(plan.csv_path))
    print(
        f"\ncompare: finished in {format_elapsed(time.monotonic() - start)}; results in {plan.output_dir}\n", flush=True
    )
    return text
