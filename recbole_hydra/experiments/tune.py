"""Ray Tune search per model and mode: the same budget for each, ASHA early stopping, Optuna's TPE.

Each trial builds its config with build_config, trains with RecBole's Trainer and reports the
validation metric after every epoch (RecBole's `callback_fn`), which ASHA needs to stop poor
trials early. Test metrics are computed once per search, for the best trial only, from the
checkpoint RecBole saved at that trial's best validation epoch.

Layout of the output folder DIR:
    ray_results/<search>/            Ray's experiment (rerun the same command to resume it); a search
                                     is named <Model>-<mode>, plus -<variant> for a row with its own settings
    ray_results/<search>.json        the settings of that search (a rerun must match them)
    checkpoints/<Model>-<mode>/<trial_id>/   RecBole's checkpoint of each trial
    tuning_summary.csv, tuning_summary.md, command.txt
    trials.csv                       every trial: its config, epochs, best validation score, or error,
                                     and where it ran (Ray node id, host, device)

On a cluster (--address) each trial writes its checkpoints on the node that runs it; the best
trial's test metrics are computed where its checkpoint is: here if the storage is shared, else by a
Ray task on that trial's node.
"""

import dataclasses
import json
import os
import sys
import time

from recbole_hydra.config_errors import ConfigError
from recbole_hydra.experiments.grids.budget import BUDGET_KEYS
from recbole_hydra.experiments.grids.grid import Row, check_no_mode_setting, expand_models, shared_settings
from recbole_hydra.experiments.grids.search_spaces import ray_space, read_space, space_file
from recbole_hydra.experiments.reports.tables import format_elapsed, read_rows, record_command, write_rows
from recbole_hydra.experiments.reports.tuning_results import (
    PLACE,
    RAY_DIR,
    SUMMARY_FIRST,
    SUMMARY_LAST,
    SUMMARY_NAME,
    TRIALS_FIRST,
    TRIALS_NAME,
    best_config_cell,
    search_key,
    search_name,
    search_settings_file,
    summary_markdown,
)
from recbole_hydra.experiments.runners.cluster import check_resources, connect
from recbole_hydra.files import write_atomic
from recbole_hydra.runtime.config import build_config, plain
from recbole_hydra.runtime.datasets import check_dataset
from recbole_hydra.runtime.defaults import SEARCH_SPACES_DIR
from recbole_hydra.runtime.train_scheme import scheme_for

METRIC = "valid_score"  # RecBole's valid_metric, whatever it is, under one name for ASHA


# ----- one trial, inside a Ray worker ------------------------------------------------------------


def trial(params, model, dataset, settings, checkpoint_root, threads):
    """Train one sampled config with RecBole's Trainer; report the validation metric every epoch."""
    import torch
    from ray.air import session

    import recbole_hydra  # noqa: F401  registers HydraRec in the worker
    from recbole_hydra.experiments.runners.cluster import device_settings, here
    from recbole_hydra.runtime.patches import hide_recbole_warnings
    from recbole_hydra.runtime.training import make_trainer, prepare

    hide_recbole_warnings()
    torch.set_num_threads(threads)
    checkpoint_dir = os.path.join(checkpoint_root, session.get_trial_id())
    overrides = {**settings, **params, "checkpoint_dir": checkpoint_dir, **device_settings()}
    config = build_config(model, dataset, overrides=overrides)
    where = {**here(), "device": str(config["device"])}
    recommender, train_data, valid_data, _ = prepare(config)
    trainer = make_trainer(config, recommender)

    def report(epoch, valid_score):  # RecBole calls this after each validation (eval_step is 1)
        session.report(
            {METRIC: float(valid_score), "epoch": epoch, "checkpoint_file": trainer.saved_model_file, **where}
        )

    trainer.fit(train_data, valid_data, saved=True, show_progress=False, callback_fn=report)


# ----- one search ----------------------------------------------------------------------------


@dataclasses.dataclass
class Search:
    """One row of the grid (a model in one mode, maybe a variant): its trial settings, space, metric
    direction and recorded settings."""

    row: Row
    settings: dict
    space: dict
    bigger: bool
    settings_file: str
    recorded: dict

    @property
    def identity(self):
        """The columns that say which search a summary or trials row belongs to."""
        model, mode, variant = self.row.key
        return {
            "model": model,
            "mode": mode,
            "variant": variant,
            "train_scheme": scheme_for(model, self.settings),
        }


def _search_settings(common, row, max_epochs):
    check_no_mode_setting(common)
    for key, option in (("epochs", "--max-epochs"), ("eval_step", "(every epoch, for ASHA)")):
        if key in common:
            raise ConfigError(f"--{key} is set by tune {option}; drop --{key}={common[key]}")
    own_budget = [key for key in BUDGET_KEYS if key in row.settings]
    if own_budget:  # every search gets the same budget: trials, epochs, patience, seconds
        raise ConfigError(
            f"--models {row.spec} sets {', '.join(own_budget)}, part of the training budget every search "
            "shares; set it once for all (--max-epochs, --stopping_step=P, --train_time_budget=S)"
        )
    return {**row.run_settings(common), "epochs": max_epochs, "eval_step": 1}


def run_search(
    search, dataset, num_samples, max_epochs, output_dir, cpus_per_trial, seed, callbacks=None, gpus_per_trial=0
):
    """Run (or resume) one Search; returns Ray's ResultGrid and whether it finished."""
    from ray import air, tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    name = search_name(search.row.key)
    storage = os.path.join(output_dir, RAY_DIR)
    trainable = tune.with_resources(
        tune.with_parameters(
            trial,
            model=search.row.model,
            dataset=dataset,
            settings=search.settings,
            checkpoint_root=os.path.join(output_dir, "checkpoints", name),
            threads=cpus_per_trial,
        ),
        {"cpu": cpus_per_trial, "gpu": gpus_per_trial},
    )
    experiment = os.path.join(storage, name)
    if tune.Tuner.can_restore(experiment):
        print(f"tune: resuming the search in {experiment}", flush=True)
        tuner = tune.Tuner.restore(experiment, trainable=trainable, resume_unfinished=True, resume_errored=False)
    else:
        tuner = tune.Tuner(
            trainable,
            param_space=ray_space(search.space),
            tune_config=tune.TuneConfig(
                metric=METRIC,
                mode="max" if search.bigger else "min",
                num_samples=num_samples,
                # Per-epoch reports: at each rung (1, 2, 4, ... epochs) only the better half goes on.
                scheduler=ASHAScheduler(
                    time_attr="training_iteration", max_t=max_epochs, grace_period=1, reduction_factor=2
                ),
                search_alg=OptunaSearch(seed=seed),
            ),
            run_config=air.RunConfig(
                name=name,
                storage_path=storage,
                callbacks=callbacks,
                verbose=1,
                # A crashing config (out of range value, OOM) is reported, not retried, never fatal.
                failure_config=air.FailureConfig(max_failures=0, fail_fast=False),
            ),
        )
    grid = tuner.fit()
    return grid, not interrupted(grid, num_samples)


def interrupted(grid, num_samples):
    """Whether Ctrl-C (or a lost driver) cut the search short.

    Ray returns normally on Ctrl-C, marking the running trials terminated; but every trial that
    really ended (its own return, ASHA's stop) has `done` in its last result, or an error.
    """
    ended = [result for result in grid if result.error is not None or (result.metrics or {}).get("done")]
    return len(ended) < max(num_samples, len(grid))


def reported_scores(result):
    """The validation scores a trial reported, one per epoch (empty if none), and Ray's frame."""
    frame = result.metrics_dataframe
    if frame is None or METRIC not in frame:
        return frame, []
    return frame, frame[METRIC].dropna()


def best_of_trial(result, bigger):
    """(best validation score, its epoch) of one trial, or None if it reported none."""
    frame, scores = reported_scores(result)
    if len(scores) == 0:
        return None
    index = scores.idxmax() if bigger else scores.idxmin()
    return float(scores[index]), int(frame.loc[index, "epoch"])


def best_trial(grid, bigger):
    """(Result, best validation score, its epoch) over every epoch of every trial; None if none reported."""
    best = None
    for result in grid:
        found = best_of_trial(result, bigger)
        if found and (best is None or (found[0] > best[1] if bigger else found[0] < best[1])):
            best = (result, *found)
    return best


def evaluate_on_test(checkpoint_file):
    """Test metrics of a trial's best-validation checkpoint, with RecBole's own loader and evaluator."""
    import recbole_hydra  # noqa: F401  registers HydraRec (in a Ray worker too)
    from recbole_hydra.runtime.saved_models import evaluate_saved_model

    return evaluate_saved_model(checkpoint_file)


def evaluate_on_node(checkpoint_file, node_id):
    """evaluate_on_test run by a Ray task on the node that holds the checkpoint (no shared storage)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    task = ray.remote(evaluate_on_test).options(
        num_cpus=1, scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False)
    )
    return ray.get(task.remote(checkpoint_file))


def best_test_metrics(checkpoint_file, node_id):
    """(test metrics, None), or (None, why not): here if the checkpoint is, else on the trial's node."""
    import ray

    if os.path.isfile(checkpoint_file):
        return evaluate_on_test(checkpoint_file), None
    if not node_id:
        return None, f"checkpoint {checkpoint_file} is not on this machine"
    try:
        return evaluate_on_node(checkpoint_file, node_id), None
    except ray.exceptions.RayError as error:
        message = str(error).strip().splitlines()
        return None, f"checkpoint {checkpoint_file} of node {node_id[:8]} could not be read there ({message[-1]})"


def summary_row(search, grid, valid_metric):
    bigger = search.bigger
    row = {
        **search.identity,
        "trials": len(grid),
        "failed_trials": grid.num_errors,
        "experiment": grid.experiment_path,
    }
    found = best_trial(grid, bigger)
    if found is None:
        row["status"] = f"failed: no trial of {len(grid)} reported a validation score"
        return row
    result, score, epoch = found
    checkpoint = result.metrics["checkpoint_file"]
    row.update(
        {
            "status": "ok",
            f"best_valid_{valid_metric}": score,
            "best_epoch": epoch,
            "best_config": best_config_cell(result.config),
            "checkpoint": checkpoint,
        }
    )
    metrics, why_not = best_test_metrics(checkpoint, result.metrics.get("node_id"))
    if metrics is None:
        row["status"] = f"ok, but no test: {why_not}"
        return row
    row.update({f"test_{name}": value for name, value in metrics.items()})
    return row


def trial_rows(search, grid, valid_metric):
    """One row per trial of a search, best first: config keys as columns, so a search can be read whole."""
    bigger = search.bigger
    rows = []
    for result in grid:
        frame, scores = reported_scores(result)
        row = {
            **search.identity,
            "trial": (result.metrics or {}).get("trial_id") or os.path.basename(str(result.path)),
            "status": "ok",
            "epochs": len(scores),
        }
        if result.error is not None:
            message = str(result.error).strip().splitlines()
            row["status"] = f"failed: {message[-1] if message else type(result.error).__name__}"
        best = best_of_trial(result, bigger)
        if best:
            row[f"best_valid_{valid_metric}"], row["best_epoch"] = best
            if "time_total_s" in frame:  # Ray's wall clock, shared with the trials beside it
                row["seconds_per_epoch"] = float(frame["time_total_s"].iloc[-1]) / len(scores)
        row.update(plain(result.config))
        row.update({column: (result.metrics or {}).get(column, "") for column in PLACE})
        rows.append(row)
    sign = -1 if bigger else 1
    key = f"best_valid_{valid_metric}"
    return sorted(rows, key=lambda row: (key not in row, sign * row.get(key, 0.0)))


# ----- the whole tuning run --------------------------------------------------------------------


def worker_env():
    """Local Ray workers import recbole_hydra from where this driver did (a checkout needs no install).

    On a cluster (--address) every node needs recbole-hydra installed: a shipped source tree
    would lack the properties/ folder beside it.
    """
    import recbole_hydra

    source_root = os.path.dirname(os.path.dirname(os.path.abspath(recbole_hydra.__file__)))
    paths = [source_root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {"env_vars": {"PYTHONPATH": os.pathsep.join(paths)}}


def _local_gpus():
    import torch

    return torch.cuda.device_count()


def _check_same_settings(path, recorded):
    """A resumed search must be the same search; say which setting differs otherwise."""
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as f:
        before = json.load(f)
    changed = sorted(k for k in set(before) | set(recorded) if before.get(k) != recorded.get(k))
    if changed:
        raise ConfigError(
            f"{path} records a search with other {', '.join(changed)}; rerun it unchanged to resume, "
            "or use another --output"
        )


def _record_settings(path, recorded):
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_atomic(path, json.dumps(recorded, indent=2, sort_keys=True))


def start_local_ray(num_cpus=None, **init_args):
    """A Ray instance of this machine alone, whatever RAY_ADDRESS says: Ray would otherwise join the
    cluster it names (and refuse num_cpus); a cluster is joined only through --address."""
    import ray

    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, runtime_env=worker_env(), **init_args)


def tune_models(
    models,
    dataset,
    num_samples,
    max_epochs,
    output_dir="tuning",
    config_files=(),
    overrides=None,
    address=None,
    cpus_per_trial=1,
    gpus_per_trial=0,
    num_cpus=None,
    space_dir=SEARCH_SPACES_DIR,
    command=None,
    callbacks=None,
):
    """Search every (model, mode, variant) in turn; returns (markdown summary, finished?)."""
    try:
        import ray.tune  # noqa: F401
    except ImportError:
        raise ConfigError("tune needs Ray Tune: pip install 'recbole-hydra[tune]'") from None

    output_dir = os.path.abspath(output_dir)
    common = shared_settings(config_files, dict(overrides or {}))
    common.setdefault("state", "WARNING")  # RecBole's INFO lines from every worker drown Ray's progress
    searches = plan_searches(models, dataset, common, num_samples, max_epochs, output_dir, space_dir)
    join_ray(address, num_cpus, cpus_per_trial, gpus_per_trial)
    for search in searches:
        _record_settings(search.settings_file, search.recorded)
    os.makedirs(output_dir, exist_ok=True)
    record_command(output_dir, command)
    finished = run_searches(
        searches, dataset, num_samples, max_epochs, output_dir, cpus_per_trial, gpus_per_trial, callbacks
    )
    text = summary_markdown(read_rows(os.path.join(output_dir, SUMMARY_NAME)), dataset, num_samples, max_epochs)
    write_atomic(os.path.join(output_dir, "tuning_summary.md"), text)
    return text, finished


def plan_searches(models, dataset, common, num_samples, max_epochs, output_dir, space_dir):
    """One Search per row of `models`, every error before Ray starts: settings, spaces, data, and a
    folder's earlier searches, which a rerun resumes only if they were the same."""
    seed = common.get("seed", 2020)
    searches = []
    for row in expand_models(models):
        settings = _search_settings(common, row, max_epochs)
        config = build_config(row.model, dataset, overrides=settings)
        path = space_file(row.model, space_dir)
        space = read_space(path, row.mode)
        unknown = [key for key in space if key not in config.final_config_dict]
        if unknown:
            raise ConfigError(f"search space {path}: {unknown} are not settings of {row.model}")
        search = Search(
            row,
            settings,
            space,
            bool(config["valid_metric_bigger"]),
            search_settings_file(output_dir, row.key),
            {
                "dataset": dataset,
                "num_samples": num_samples,
                "max_epochs": max_epochs,
                "settings": plain(settings),
                "space": plain(space),
                "seed": seed,
            },
        )
        _check_same_settings(search.settings_file, search.recorded)
        searches.append(search)
    if searches:  # every search reads the same dataset: checked once
        check_dataset(config)
    return searches


def join_ray(address, num_cpus, cpus_per_trial, gpus_per_trial):
    """Start a local Ray, or join the cluster at `address`, once the trials' resources fit on some node.

    Still before anything is written: a trial no node can hold would wait forever.
    """
    import ray

    if gpus_per_trial and address is None and not _local_gpus():
        raise ConfigError(
            f"--gpus-per-trial {gpus_per_trial:g}: this machine has no GPU that torch can use; drop it, "
            "or run on a Ray cluster with GPUs (--address)"
        )
    if not ray.is_initialized():
        if address is None:
            start_local_ray(num_cpus)
        else:
            connect(address)
    where = "the local Ray" if address is None else f"the Ray cluster at {address}"
    check_resources(cpus_per_trial, gpus_per_trial, "--cpus-per-trial", "--gpus-per-trial", where)


def run_searches(searches, dataset, num_samples, max_epochs, output_dir, cpus_per_trial, gpus_per_trial, callbacks):
    """Run (or resume) each search in turn, writing its summary row and its trials as it ends; False
    if one was interrupted (the later ones then wait for a rerun)."""
    csv_path = os.path.join(output_dir, SUMMARY_NAME)
    trials_path = os.path.join(output_dir, TRIALS_NAME)
    rows = read_rows(csv_path)
    start = time.monotonic()
    for index, search in enumerate(searches, 1):
        name = search_name(search.row.key)
        print(
            f"\n[{index}/{len(searches)}] tune {name}: {num_samples} trials × ≤{max_epochs} epochs, "
            f"searching {', '.join(search.space)} - elapsed {format_elapsed(time.monotonic() - start)}",
            flush=True,
        )
        seed = search.recorded["seed"]
        grid, finished = run_search(
            search, dataset, num_samples, max_epochs, output_dir, cpus_per_trial, seed, callbacks, gpus_per_trial
        )
        if not finished:
            print(
                f"tune: the search of {name} was interrupted; rerun the same command to resume it",
                file=sys.stderr,
                flush=True,
            )
            return False
        valid_metric = search.settings["valid_metric"].lower()
        row = summary_row(search, grid, valid_metric)
        rows = [r for r in rows if search_key(r) != search.row.key] + [row]
        write_rows(csv_path, rows, first=SUMMARY_FIRST, last=SUMMARY_LAST)
        trials = [r for r in read_rows(trials_path) if search_key(r) != search.row.key]
        write_rows(trials_path, trials + trial_rows(search, grid, valid_metric), first=TRIALS_FIRST, last=PLACE)
        print(
            f"[{index}/{len(searches)}] {name}: {row['status']}, {row['failed_trials']} of "
            f"{row['trials']} trials failed",
            flush=True,
        )
    return True
