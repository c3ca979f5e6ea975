"""compare: the model × seed grid, its CSV, table and plot, crash isolation and resuming."""

import dataclasses
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import yaml

from recbole_hydra.cli import main
from recbole_hydra.config_errors import ConfigError
from recbole_hydra.experiments.compare import compare, resolve_references
from recbole_hydra.experiments.grids.grid import PROTOCOL, Row, expand_models, model_modes, settings_digest
from recbole_hydra.experiments.reports.tables import read_rows, summary_table, write_rows
from recbole_hydra.experiments.runners.local import run_in_subprocess
from recbole_hydra.files import load_yaml
from recbole_hydra.runtime.checkpoints import load_checkpoint
from recbole_hydra.runtime.training import RunResult

from helpers import REPO, TINY, overrides, write_dataset

# TINY without its metrics: compare's own protocol (Hit, NDCG, MRR at 10 and 20) must show.
SMALL = {key: value for key, value in TINY.items() if key not in ("metrics", "topk", "valid_metric", "use_gpu")}
METRIC_COLUMNS = [f"test_{m}@{k}" for m in ("hit", "ndcg", "mrr") for k in (10, 20)] + ["valid_ndcg@10"]
COST_COLUMNS = [
    "best_epoch",
    "train_seconds_per_epoch",
    "inference_seconds",
    "peak_memory_mb",
    "peak_memory_kind",
    "parameters",
]


def test_models_expand_to_modes():
    assert [m[:2] for m in model_modes("HydraRec")] == [("HydraRec", "causal"), ("HydraRec", "bidirectional")]
    assert model_modes("HydraRec:bidirectional") == [Row("HydraRec", "bidirectional", "", {"bidirectional": True})]
    assert model_modes("SASRec") == [Row("SASRec", "causal", "", {})]
    assert model_modes("BERT4Rec") == [Row("BERT4Rec", "bidirectional", "", {})]
    assert model_modes("GRU4Rec") == [Row("GRU4Rec", "-", "", {})]


def test_a_row_may_carry_its_own_settings():
    rows = model_modes("HydraRec:causal:train_scheme=prefix:n_layers=1")
    assert rows == [
        Row(
            "HydraRec",
            "causal",
            "n_layers=1:train_scheme=prefix",
            {"bidirectional": False, "train_scheme": "prefix", "n_layers": 1},
        )
    ]
    assert rows[0].spec == "HydraRec:causal:n_layers=1:train_scheme=prefix"
    assert model_modes(rows[0].spec) == rows
    both = model_modes("HydraRec:train_scheme=prefix")  # both modes, one setting
    assert [(row.mode, row.variant) for row in both] == [
        ("causal", "train_scheme=prefix"),
        ("bidirectional", "train_scheme=prefix"),
    ]
    assert model_modes("SASRec:n_layers=1")[0].settings == {"n_layers": 1}
    assert [
        row.train_scheme({})
        for row in expand_models(["HydraRec:causal", "HydraRec:causal:train_scheme=prefix", "SASRec"])
    ] == ["sequence", "prefix", "prefix"]
    assert model_modes("HydraRec:causal")[0].train_scheme({"train_scheme": "prefix"}) == "prefix"
    with pytest.raises(ConfigError, match="expected ':key=value'"):
        model_modes("HydraRec:causal:prefix")
    with pytest.raises(ConfigError, match="the mode sets bidirectional"):
        model_modes("HydraRec:bidirectional=True")


@pytest.mark.parametrize(
    "spec, message",
    [
        ("NoSuchRec", "'NoSuchRec' is not a model RecBole or recbole-hydra knows"),
        ("sasrec", "did you mean 'SASRec'"),
        ("BPR", "general model; only sequential"),
        ("HydraRec:both", "mode 'both'"),
        ("SASRec:causal", "only HydraRec"),
    ],
)
def test_bad_model_names_fail_before_anything_runs(spec, message):
    with pytest.raises(ConfigError, match=message):
        model_modes(spec)


def test_cli_reports_a_bad_option_with_exit_code_2(workdir, capsys):
    assert main(["compare", "--models", "Pop", "--output", str(workdir / "unused")]) == 2
    assert "'Pop' is a traditional model" in capsys.readouterr().err
    assert main(["compare", "--seeds", "0"]) == 2
    assert main(["compare", "--threads", "0"]) == 2
    assert main(["compare", "--jobs", "0"]) == 2
    assert main(["compare", "--models", "HydraRec", "--bidirectional=True"]) == 2
    assert (
        main(
            [
                "compare",
                "--models",
                "HydraRec",
                "SASRec",
                "--reference",
                "HydraRec",
                "--output",
                str(workdir / "unused"),
            ]
        )
        == 2
    )
    assert "--reference: 'HydraRec' is 2 rows; name one, e.g. HydraRec:causal" in capsys.readouterr().err
    assert not (workdir / "unused").exists()


@pytest.mark.parametrize(
    "options, message",
    [
        (["--gpus-per-run", "1"], "option --gpus-per-run asks a Ray cluster for resources: it needs --address"),
        (["--cpus-per-run", "2"], "option --cpus-per-run asks a Ray cluster for resources: it needs --address"),
        (["--address", "auto", "--gpus-per-run", "1.5"], "option --gpus-per-run must be a number 0 or more, whole"),
        (["--address", "auto", "--gpus-per-run", "-1"], "option --gpus-per-run must be a number 0 or more"),
        (["--address", "auto", "--cpus-per-run", "0"], "option --cpus-per-run must be a number above 0"),
    ],
)
def test_cli_resources_per_run_are_checked_before_ray_is_reached(workdir, capsys, options, message):
    assert main(["compare", "--models", "SASRec", "--output", str(workdir / "unused")] + options) == 2
    assert message in capsys.readouterr().err
    assert not (workdir / "unused").exists()


@pytest.mark.parametrize(
    "models, message",
    [
        (["SASRec:epochs=3", "HydraRec"], "SASRec:epochs=3 has epochs=3 where HydraRec:causal has 1"),
        (
            ["HydraRec:causal:stopping_step=2", "SASRec", "BERT4Rec"],
            "HydraRec:causal:stopping_step=2 has stopping_step=2",
        ),
        (
            ["SASRec", "HydraRec", "BERT4Rec:train_time_budget=60"],
            "BERT4Rec:train_time_budget=60 has train_time_budget=60",
        ),
    ],
)
def test_every_row_gets_the_same_budget(workdir, tmp_path, models, message):
    with pytest.raises(ConfigError, match=f"same training budget.*{message}"):
        compare(models, "ml-100k", seeds=1, output_dir=str(tmp_path / "never"), overrides=SMALL)
    assert not (tmp_path / "never").exists()


def test_references_default_to_sasrec_and_must_be_compared_rows():
    variants = expand_models(["HydraRec", "SASRec", "BERT4Rec"])
    assert resolve_references(None, variants) == [("SASRec", "causal", "")]
    assert resolve_references(None, expand_models(["HydraRec", "GRU4Rec"])) == []  # no SASRec: no ratios
    assert resolve_references(["BERT4Rec", "HydraRec:causal", "BERT4Rec"], variants) == [
        ("BERT4Rec", "bidirectional", ""),
        ("HydraRec", "causal", ""),
    ]
    prefix = expand_models(["HydraRec:causal", "HydraRec:causal:train_scheme=prefix"])
    assert resolve_references(["HydraRec:causal:train_scheme=prefix"], prefix) == [
        ("HydraRec", "causal", "train_scheme=prefix")
    ]
    with pytest.raises(ConfigError, match="--reference: 'GRU4Rec' is not one of the compared rows"):
        resolve_references(["GRU4Rec"], variants)
    with pytest.raises(ConfigError, match="option --reference: 'Nope' is not a model RecBole or recbole-hydra knows"):
        resolve_references(["Nope"], variants)


def test_summary_table_means_stds_best_and_ratios():
    rows = [
        {"model": "A", "mode": "-", "acc": "0.2", "secs": "4"},
        {"model": "A", "mode": "-", "acc": "0.4", "secs": "6"},
        {"model": "SASRec", "mode": "causal", "acc": "0.1", "secs": "10"},
    ]
    table = summary_table(
        rows,
        ["model", "mode"],
        higher_is_better=["acc"],
        lower_is_better=["secs"],
        decimals={"secs": 1},
        references=[("SASRec", "causal"), ("A", "-"), ("Absent", "-")],
        ratio_columns={"secs": "time", "not_computed": "absent"},  # a column no run has: no ratio for it
    )
    lines = {
        cells[0]: cells
        for cells in ([cell.strip() for cell in line.strip().strip("|").split("|")] for line in table.splitlines())
    }
    assert lines["model"][-2:] == ["time vs SASRec causal", "time vs A"]  # no column for a reference without rows
    assert lines["A"][3:] == ["**0.3000 ± 0.1414**", "**5.0 ± 1.4**", "0.50×", "1.00×"]
    assert lines["SASRec"][3:] == ["0.1000", "10.0", "1.00×", "2.00×"]


def test_comparison_markdown_takes_its_accuracy_ratio_from_the_metrics_the_runs_have():
    from recbole_hydra.experiments.reports.comparison_report import markdown_summary

    def row(model, mode, mrr):
        return {"model": model, "mode": mode, "variant": "", "train_scheme": "", "status": "ok", "seed": "1",
                "test_mrr@5": mrr, "valid_mrr@5": mrr, "train_seconds": "10"}  # fmt: skip

    text = markdown_summary(
        [row("HydraRec", "causal", "0.3"), row("SASRec", "causal", "0.2")], "syn", [("SASRec", "causal")]
    )
    assert "MRR@5 vs SASRec causal" in text and "1.50×" in text and "NDCG@10 vs" not in text


def _fake_runner(calls):
    """Stands in for the subprocess on a rerun: records what would run, returns a plausible result."""

    def run(entry, dataset, threads, workdir, quiet=False):
        calls.append(entry.name)
        result = RunResult(
            model=entry.model,
            dataset=dataset,
            seed=entry.seed,
            best_valid_score=0.5,
            valid_result={"ndcg@10": 0.5},
            test_result={name[5:]: 0.25 for name in METRIC_COLUMNS[:-1]},
            best_epoch=0,
            epochs_run=1,
            train_seconds_per_epoch=1.0,
            inference_seconds=0.1,
            peak_memory_mb=100.0,
            peak_memory_kind="process_peak_rss",
            parameters=10,
            checkpoint="",
        )
        return dataclasses.asdict(result), {"model": entry.model}, {"device": "cpu", "node_id": "", "host": "here"}

    return run


def _crashing_inside(model):
    """The real runner, except that `model`'s runs get a setting their own process rejects
    (mask_ratio × MAX_ITEM_LIST_LENGTH < 1): a run that fails inside its process, not in planning."""

    def run(entry, *args, **kwargs):
        if entry.model == model:
            entry = dataclasses.replace(entry, settings={**entry.settings, "mask_ratio": 0.05})
        return run_in_subprocess(entry, *args, **kwargs)

    return run


def test_compare_writes_rows_table_plot_isolates_a_crash_and_resumes(workdir, tmp_path):
    output = tmp_path / "cmp"
    overrides = dict(SMALL, state="INFO")  # INFO: the runs print their logs
    args = dict(
        models=["SASRec", "HydraRec:bidirectional"],
        dataset="ml-100k",
        seeds=1,
        output_dir=str(output),
        overrides=overrides,
        threads=1,
        jobs=2,
        command="compare --the-command",
    )
    # Both runs side by side, each in its own process; HydraRec's fails there, SASRec must still finish.
    compare(**args, runner=_crashing_inside("HydraRec"))

    rows = {row["model"]: row for row in read_rows(output / "comparison.csv")}
    sasrec, hydra = rows["SASRec"], rows["HydraRec"]
    assert (sasrec["mode"], sasrec["seed"], sasrec["status"]) == ("causal", "2020", "ok")
    # epochs=1: the run ended at its cap, and says so; every item was ranked (RecBole's protocol)
    assert (sasrec["stopped_by"], sasrec["ranking"]) == ("epoch cap", "all items")
    for column in METRIC_COLUMNS:
        assert 0 <= float(sasrec[column]) <= 1, column
    for column in COST_COLUMNS:
        assert sasrec[column] != "", column
    assert sasrec["peak_memory_kind"] == "process_peak_rss" and int(sasrec["parameters"]) > 0
    # Where it ran: this machine, no Ray node; a failed run says where too.
    assert (sasrec["device"], sasrec["node_id"], sasrec["host"]) == ("cpu", "", socket.gethostname())
    assert float(sasrec["peak_memory_mb"]) > 0 and float(sasrec["train_seconds_per_epoch"]) > 0
    assert (hydra["mode"], hydra["status"]) == ("bidirectional", "failed") and "mask_ratio" in hydra["error"]
    assert (hydra["node_id"], hydra["host"]) == ("", socket.gethostname())
    console = (output / "log" / "console" / "SASRec-causal-2020.log").read_text()
    assert "epoch 0 training" in console  # each run's output went to its own file, not the shared terminal

    table = (output / "comparison.md").read_text()
    assert "| SASRec" in table and "Failed runs" in table and "mask_ratio" in table
    assert "test_ndcg@10" in table and "`epochs`: `1`" in table
    assert "Training budget, the same for every row: at most 1 epochs, validation every epoch" in table
    assert "Ranking: every item, the user's earlier items included" in table
    assert "Runs that hit a cap before early stopping ended them" in table and "seed 2020: epoch cap" in table
    assert (output / "comparison.png").stat().st_size > 0
    assert sasrec["config_file"] == os.path.join("configs", "SASRec-causal-2020.yaml")  # the folder can move
    assert (output / sasrec["checkpoint"]).is_file() and not os.path.isabs(sasrec["checkpoint"])
    settings = load_yaml(output / "configs" / "SASRec-causal-2020.yaml")
    assert settings["seed"] == 2020 and settings["MAX_ITEM_LIST_LENGTH"] == 10
    assert (output / "configs" / "SASRec-causal-2020.resolved.yaml").exists()
    assert "compare --the-command" in (output / "command.txt").read_text()
    assert "compare --the-command" in table

    # Rerun: the finished SASRec row is kept, only the failed run is retried.
    calls = []
    compare(**args, runner=_fake_runner(calls))
    assert calls == ["HydraRec-bidirectional-2020"]
    rows = {row["model"]: row for row in read_rows(output / "comparison.csv")}
    assert rows["SASRec"] == sasrec and rows["HydraRec"]["status"] == "ok"

    # Other settings in the same folder would mix protocols in one table: refuse, unless --redo.
    with pytest.raises(ConfigError, match="other settings"):
        compare(**dict(args, overrides=dict(overrides, epochs=2)), runner=_fake_runner(calls))
    compare(**dict(args, overrides=dict(overrides, epochs=2)), runner=_fake_runner(calls), redo=True)
    # jobs=2: both runs start side by side, so which one the runner sees first is up to the threads.
    assert sorted(calls[1:]) == ["HydraRec-bidirectional-2020", "SASRec-causal-2020"]
    assert len(read_rows(output / "comparison.csv")) == 2
    # Fewer models, other settings: the rows of the unlisted model would mix two protocols.
    with pytest.raises(ConfigError, match="HydraRec-bidirectional-2020"):
        compare(**dict(args, models=["SASRec"], overrides=overrides), runner=_fake_runner(calls), redo=True)
    assert os.listdir(output).count("comparison.csv") == 1  # no temporary files left behind
    assert not [name for name in os.listdir(output) if name.startswith(".tmp")]


def test_jobs_run_side_by_side_and_rows_keep_the_grid_order(workdir, tmp_path):
    import threading

    calls, bert_done = [], threading.Event()
    fake = _fake_runner(calls)

    def runner(entry, dataset, threads, workdir, quiet=False):
        assert quiet  # side-by-side runs must not share the terminal
        if entry.name == "SASRec-causal-2020":  # finishes only after the run beside it: side by side
            assert bert_done.wait(timeout=30)
        result = fake(entry, dataset, threads, workdir)
        if entry.name == "BERT4Rec-bidirectional-2020":
            bert_done.set()
        return result

    output = tmp_path / "jobs"
    compare(
        models=["SASRec", "BERT4Rec"],
        dataset="ml-100k",
        seeds=2,
        output_dir=str(output),
        overrides=SMALL,
        threads=1,
        jobs=2,
        command="compare -j 2",
        runner=runner,
    )
    rows = read_rows(output / "comparison.csv")
    # BERT4Rec's first run finished first, yet the file holds the grid's order: seed by seed, as listed.
    assert [(r["model"], r["seed"], r["status"]) for r in rows] == [
        ("SASRec", "2020", "ok"),
        ("BERT4Rec", "2020", "ok"),
        ("SASRec", "2021", "ok"),
        ("BERT4Rec", "2021", "ok"),
    ]
    assert sorted(calls) == sorted(
        ["SASRec-causal-2020", "BERT4Rec-bidirectional-2020", "SASRec-causal-2021", "BERT4Rec-bidirectional-2021"]
    )
    assert "runs side by side: 2" in (output / "comparison.md").read_text()


def test_a_moved_results_folder_keeps_its_finished_runs(tmp_path):
    calls = []
    args = dict(models=["SASRec"], dataset="ml-100k", seeds=1, overrides=SMALL, threads=1, jobs=1, command="c")
    compare(**args, output_dir=str(tmp_path / "here"), runner=_fake_runner(calls))
    shutil.copytree(tmp_path / "here", tmp_path / "moved")
    # checkpoint_dir is DIR/saved, so it moved too: where files go is not a setting, nothing runs again
    compare(**args, output_dir=str(tmp_path / "moved"), runner=_fake_runner(calls))
    assert calls == ["SASRec-causal-2020"]


def test_rows_hashed_with_their_folder_before_are_still_recognised_there(tmp_path):
    calls, output = [], tmp_path / "old"
    args = dict(models=["SASRec"], dataset="ml-100k", seeds=1, overrides=SMALL, threads=1, jobs=1, command="c")
    compare(**args, output_dir=str(output), runner=_fake_runner(calls))
    rows = read_rows(output / "comparison.csv")
    settings = load_yaml(output / "configs" / "SASRec-causal-2020.yaml")
    assert rows[0]["settings_hash"] != settings_digest(settings)
    rows[0]["settings_hash"] = settings_digest(settings)  # as written before the hash left out checkpoint_dir
    write_rows(str(output / "comparison.csv"), rows)
    compare(**args, output_dir=str(output), runner=_fake_runner(calls))
    assert calls == ["SASRec-causal-2020"]


def test_a_cut_short_run_saved_under_the_old_hash_still_resumes(tmp_path):
    settings = {"checkpoint_dir": str(tmp_path), "seed": 2020, "epochs": 3}
    entry = Row("SASRec", "causal", "", {}).entry({**settings}, 2020)
    assert entry.resume_file() is None
    old_name = tmp_path / f"{entry.name}-{settings_digest(entry.settings)}-last.pth"
    old_name.write_bytes(b"")
    assert entry.resume_file() == str(old_name)
    new_name = tmp_path / f"{entry.name}-{entry.settings_hash}-last.pth"
    new_name.write_bytes(b"")
    assert entry.resume_file() == str(new_name)  # today's name first


def _children(pid):
    """The pids whose parent is `pid` (Linux /proc)."""
    found = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.split("/")[2]))
    return found


def _gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie no longer runs
    except OSError:
        return True


ON_LINUX = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="looks for the run's process in /proc")


def _compare_stopped_by(signum, tmp_path):
    """Start a one-run compare, send `signum` to the compare process alone once its run has saved
    an epoch, and check that the run's process is gone too. Returns (command, environment, last_files)."""
    write_dataset(tmp_path)
    settings = overrides(tmp_path, train_batch_size=128, stopping_step=50, epochs=30)
    yaml_file = tmp_path / "syn.yaml"
    yaml_file.write_text("".join(f"{key}: {value!r}\n" for key, value in settings.items()))
    command = [
        sys.executable,
        os.path.join(REPO, "run_hydrarec.py"),
        "compare",
        "--dataset",
        "syn",
        "--models",
        "HydraRec:causal",
        "--seeds",
        "1",
        "--threads",
        "1",
        "--output",
        str(tmp_path / "cmp"),
        "--config_files",
        str(yaml_file),
    ]
    environment = dict(os.environ, OMP_NUM_THREADS="1")
    process = subprocess.Popen(
        command,
        cwd=str(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        # A shell starts background jobs with SIGINT ignored: give compare SIGINT's default, as a
        # terminal would.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    last_files = os.path.join(settings["checkpoint_dir"], "*-last.pth")
    deadline = time.monotonic() + 240
    while not glob.glob(last_files):
        assert process.poll() is None and time.monotonic() < deadline, "no -last.pth while the run went on"
        time.sleep(0.05)
    runs = _children(process.pid)
    process.send_signal(signum)  # `kill` or `kill -INT`: they reach only the compare process itself
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130 and "rerun the same command to resume" in err
    deadline = time.monotonic() + 30
    while not all(_gone(pid) for pid in runs):
        assert time.monotonic() < deadline, "a run's process outlived the stopped compare"
        time.sleep(0.1)
    return command, environment, last_files


@ON_LINUX
def test_sigint_to_compare_alone_stops_its_runs_too(tmp_path):
    """`kill -INT` reaches the compare process, not its runs (Ctrl-C reaches the process group)."""
    _, _, last_files = _compare_stopped_by(signal.SIGINT, tmp_path)
    saved = glob.glob(last_files)  # a run that finishes removes its -last.pth
    assert len(saved) == 1, "the run trained on to its last epoch after compare was stopped"
    assert load_checkpoint(saved[0])["epoch"] < 29


@ON_LINUX
def test_kill_stops_the_run_and_a_rerun_goes_on_from_its_last_epoch(tmp_path):
    command, environment, last_files = _compare_stopped_by(signal.SIGTERM, tmp_path)
    (last,) = glob.glob(last_files)
    stopped_after = load_checkpoint(last)["epoch"]
    assert stopped_after < 29 and not read_rows(tmp_path / "cmp" / "comparison.csv")

    rerun = subprocess.run(command, cwd=str(tmp_path), capture_output=True, text=True, env=environment, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert f"resumed from {last}" in rerun.stdout
    (row,) = read_rows(tmp_path / "cmp" / "comparison.csv")
    assert row["status"] == "ok" and row["epochs_run"] == "30"  # the epochs before the kill count too
    assert not glob.glob(last_files)


# ----- compare --tuned: the best configs of a `tune` run -------------------------------------


def _tuning_summary(folder, searches):
    """A tune output folder with a summary row per (model, mode, status, best_config)."""
    import json

    from recbole_hydra.experiments.reports.tables import write_rows

    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        {
            "model": model,
            "mode": mode,
            "status": status,
            "trials": 2,
            "failed_trials": 0,
            "best_config": json.dumps(config) if config is not None else "",
        }
        for model, mode, status, config in searches
    ]
    write_rows(folder / "tuning_summary.csv", rows)
    return folder


def test_compare_tuned_runs_each_model_with_its_best_config(workdir, tmp_path, capsys):
    import json

    tuning = _tuning_summary(
        tmp_path / "tuning",
        [
            ("SASRec", "causal", "ok", {"learning_rate": 0.003, "hidden_dropout_prob": 0.2}),
            ("HydraRec", "bidirectional", "ok", {"learning_rate": 0.002, "mask_ratio": 0.3}),
            ("BERT4Rec", "bidirectional", "failed: no trial of 2 reported a validation score", None),
        ],
    )
    (tuning / "ray_results").mkdir()  # the settings the SASRec search ran with
    searched = {
        **PROTOCOL,
        **SMALL,
        "data_path": str(workdir / "dataset"),
        "train_batch_size": 512,
        "epochs": 3,
        "eval_step": 1,
        "state": "WARNING",
    }  # as tune records them
    (tuning / "ray_results" / "SASRec-causal.json").write_text(json.dumps({"settings": searched}))
    output, calls = tmp_path / "cmp", []
    args = dict(
        models=["SASRec", "HydraRec:bidirectional"],
        dataset="ml-100k",
        seeds=1,
        output_dir=str(output),
        overrides=SMALL,
        threads=1,
        command="compare --tuned",
        tuned=str(tuning),
    )
    seen = {}

    def runner(entry, dataset, threads, workdir, quiet=False):
        seen[entry.name] = entry.settings
        return _fake_runner(calls)(entry, dataset, threads, workdir)

    table = compare(**args, runner=runner)
    assert (
        seen["SASRec-causal-2020"]["learning_rate"] == 0.003
        and seen["SASRec-causal-2020"]["hidden_dropout_prob"] == 0.2
    )
    hydra = seen["HydraRec-bidirectional-2020"]
    assert (hydra["learning_rate"], hydra["mask_ratio"], hydra["bidirectional"]) == (0.002, 0.3, True)
    assert "Tuned per model" in table
    assert "- SASRec causal: `hidden_dropout_prob`: `0.2`, `learning_rate`: `0.003`" in table
    # The search used another batch size: say so (a note, not an error; it may be on purpose), and only that.
    notes = [line for line in capsys.readouterr().out.splitlines() if "note:" in line]
    assert notes == [
        "compare: note: the search of SASRec causal ran with train_batch_size=512, this comparison uses (default)"
    ]
    saved = load_yaml(output / "configs" / "SASRec-causal-2020.yaml")
    assert saved["learning_rate"] == 0.003  # the run's own config file holds the tuned values

    compare(**args, runner=runner)  # the same command: both rows are done
    assert len(calls) == 2
    with pytest.raises(ConfigError, match="other settings"):  # untuned rows would mix with tuned ones
        compare(**dict(args, tuned=None), runner=runner)

    with pytest.raises(ConfigError, match=r"no tuned config for BERT4Rec \(bidirectional\): status 'failed"):
        compare(**dict(args, models=["SASRec", "BERT4Rec"]), runner=runner)
    with pytest.raises(ConfigError, match=r"GRU4Rec \(-\): not searched; tune those models first"):
        compare(**dict(args, models=["GRU4Rec"]), runner=runner)
    with pytest.raises(ConfigError, match="--tuned sets learning_rate for SASRec .causal., and so does this command"):
        compare(**dict(args, models=["SASRec"], overrides=dict(SMALL, learning_rate=0.01)), runner=runner)
    with pytest.raises(ConfigError, match="does not exist; expected a `tune` output folder"):
        compare(**dict(args, tuned=str(tmp_path / "nowhere")), runner=runner)
    (tmp_path / "other.csv").write_text("model,seed\nSASRec,2020\n")
    with pytest.raises(ConfigError, match="is not a tuning summary"):
        compare(**dict(args, tuned=str(tmp_path / "other.csv")), runner=runner)
    assert len(calls) == 2


def test_cli_compare_tuned_names_a_missing_folder(workdir, capsys):
    assert (
        main(
            [
                "compare",
                "--models",
                "SASRec",
                "--tuned",
                str(workdir / "no-tuning"),
                "--output",
                str(workdir / "unused"),
            ]
        )
        == 2
    )
    assert "--tuned: " in capsys.readouterr().err and not (workdir / "unused").exists()


class _SwitchingStream:
    """A stream that yields to other threads inside every write, as a real console may."""

    def __init__(self):
        self.chunks = []

    def write(self, text):
        time.sleep(0)
        self.chunks.append(text)

    def flush(self):
        pass


def test_progress_lines_from_many_threads_never_run_together():
    from recbole_hydra.experiments.compare import say

    stream = _SwitchingStream()

    def speak(thread):
        for index in range(200):
            say(f"[{thread}] line {index}", stream)

    threads = [threading.Thread(target=speak, args=(thread,)) for thread in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = "".join(stream.chunks).splitlines()
    assert len(lines) == 800
    assert all(line.count("[") == 1 and line.count("line") == 1 for line in lines)


def test_finished_rows_made_under_another_default_are_refused_naming_the_key(workdir, tmp_path):
    """The settings hash covers what a command sets, not the defaults under it: a row whose resolved
    model settings differ from today's resolution (a default changed since it ran) must not pass for
    a new one in the same table."""
    from recbole_hydra.runtime.config import build_config, plain

    calls = []
    fake = _fake_runner(calls)

    def runner(entry, dataset, threads, workdir, quiet=False):  # the fake result, with a real resolved config
        result, _, where = fake(entry, dataset, threads, workdir)
        config = build_config(entry.model, dataset, overrides=entry.settings)
        return result, {key: plain(value) for key, value in config.final_config_dict.items()}, where

    output = tmp_path / "cmp"
    args = dict(models=["HydraRec:causal"], dataset="ml-100k", seeds=1, output_dir=str(output), overrides=SMALL)
    compare(**args, threads=1, runner=runner)
    compare(**args, threads=1, runner=runner)  # unchanged defaults: the finished row is kept
    assert calls == ["HydraRec-causal-2020"]

    resolved = output / "configs" / "HydraRec-causal-2020.resolved.yaml"
    settings = load_yaml(resolved)
    resolved.write_text(yaml.safe_dump(dict(settings, local_window=0)))  # as if it ran before the default was 3
    with pytest.raises(ConfigError, match=r"HydraRec-causal-2020 ran with local_window=0, this code gives 3"):
        compare(**args, threads=1, runner=runner)
    # Naming the old value makes another row; --redo runs the stale one again.
    compare(
        **dict(args, models=["HydraRec:causal", "HydraRec:causal:local_window=0"]), threads=1, runner=runner, redo=True
    )
    assert calls == ["HydraRec-causal-2020", "HydraRec-causal-2020", "HydraRec-causal-local_window=0-2020"]
