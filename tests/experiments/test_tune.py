"""tune: search-space files, and one real Ray Tune run that is interrupted, resumed and has a crashing search."""

import json
import os
import signal
import socket

import pytest
import torch

from recbole_hydra.config_errors import ConfigError
from recbole_hydra.experiments.grids.search_spaces import FALLBACK_SPACE, read_space, space_file
from recbole_hydra.experiments.reports.tables import read_rows
from recbole_hydra.experiments.tune import start_local_ray, tune_models
from recbole_hydra.runtime.defaults import SEARCH_SPACES_DIR as SEARCH_DIR

from helpers import TINY

ray = pytest.importorskip("ray")
from ray import tune  # noqa: E402

SMALL = {
    key: value for key, value in TINY.items() if key not in ("metrics", "topk", "valid_metric", "use_gpu", "epochs")
}


def _write(folder, name, text):
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text)
    return str(folder / name)


def test_shipped_spaces_share_keys_and_ranges():
    """The same search for every model: HydraRec's causal space is SASRec's, its bidirectional one BERT4Rec's."""
    hydra = os.path.join(SEARCH_DIR, "HydraRec.yaml")
    assert read_space(hydra, "causal") == read_space(os.path.join(SEARCH_DIR, "SASRec.yaml"), "causal")
    assert read_space(hydra, "bidirectional") == read_space(os.path.join(SEARCH_DIR, "BERT4Rec.yaml"), "bidirectional")
    assert "mask_ratio" not in read_space(hydra, "causal")


def test_space_file_falls_back_to_the_generic_space(capsys):
    assert space_file("GRU4Rec").endswith(FALLBACK_SPACE)
    assert "GRU4Rec" in capsys.readouterr().err


@pytest.mark.parametrize(
    "line, message",
    [
        ("lr: 0.1", "expected {domain: arguments}"),
        ("learning_rate: {normal: [0, 1]}", "exactly one domain"),
        ("learning_rate: {uniform: [0.1]}", "list of 2 numbers"),
        ("learning_rate: {uniform: [0.5, 0.1]}", "low < high"),
        ("learning_rate: {loguniform: [0, 0.1]}", "low > 0"),
        ("learning_rate: {choice: []}", "non-empty list"),
        ("learning_rate: {choice: [1], modes: causal}", "'modes' must be"),
    ],
)
def test_bad_space_entries_name_file_and_key(tmp_path, line, message):
    path = _write(tmp_path, "SASRec.yaml", line + "\n")
    with pytest.raises(ConfigError, match=message) as error:
        read_space(path, "causal")
    assert path in str(error.value)


def test_cli_rejects_bad_budgets(workdir, capsys):
    from recbole_hydra.cli import main

    assert main(["tune", "--num-samples", "0"]) == 2
    assert main(["tune", "--num-cpus", "0"]) == 2
    assert main(["tune", "--models", "HydraRec", "--bidirectional=True"]) == 2
    assert "--num-cpus" in capsys.readouterr().err
    # A row with its own patience or time would be searched under another budget than the others.
    assert main(["tune", "--models", "HydraRec:causal:stopping_step=2", "SASRec"]) == 2
    assert "HydraRec:causal:stopping_step=2 sets stopping_step, part of the training budget" in capsys.readouterr().err
    assert not ray.is_initialized()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without a GPU")
def test_a_gpu_per_trial_without_a_gpu_fails_before_ray_starts(workdir, capsys):
    from recbole_hydra.cli import main

    assert main(["tune", "--models", "SASRec", "--gpus-per-trial", "0.5", "--output", str(workdir / "unused")]) == 2
    assert "--gpus-per-trial 0.5: this machine has no GPU that torch can use" in capsys.readouterr().err
    assert main(["tune", "--models", "SASRec", "--gpus-per-trial", "2.5"]) == 2
    assert "whole above 1" in capsys.readouterr().err
    assert not ray.is_initialized() and not (workdir / "unused").exists()


def test_unknown_space_key_fails_before_ray_starts(tmp_path, workdir):
    _write(tmp_path, "SASRec.yaml", "hiden_size: {choice: [16]}\n")
    with pytest.raises(ConfigError, match="hiden_size"):
        tune_models(
            ["SASRec"], "ml-100k", 1, 1, output_dir=str(tmp_path / "out"), overrides=SMALL, space_dir=str(tmp_path)
        )
    assert not ray.is_initialized()


class InterruptOnce(tune.Callback):
    """Logs trial starts; after the first trial completes, Ctrl-C once, as a user would."""

    def __init__(self, folder):
        self.folder = str(folder)

    def _log(self, text):
        with open(os.path.join(self.folder, "events.txt"), "a") as f:
            f.write(text + "\n")

    def on_trial_start(self, iteration, trials, trial, **info):
        self._log(f"start {trial.trial_id}")

    def on_trial_complete(self, iteration, trials, trial, **info):
        marker = os.path.join(self.folder, "interrupted")
        if not os.path.exists(marker):
            open(marker, "w").close()
            os.kill(os.getpid(), signal.SIGINT)  # Ray Tune saves the experiment and returns


@pytest.fixture(scope="module")
def local_ray():
    # A RAY_ADDRESS in the environment (some machines set one) must not pull tune onto that cluster.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RAY_ADDRESS", "192.0.2.1:6379")  # TEST-NET: nothing answers there
        start_local_ray(num_cpus=2, log_to_driver=False)
    assert len(ray.nodes()) == 1
    yield
    ray.shutdown()


def test_tune_resumes_tolerates_crashes_and_writes_its_summary(local_ray, workdir, tmp_path):
    spaces = tmp_path / "spaces"
    _write(spaces, "SASRec.yaml", "learning_rate: {loguniform: [1.0e-3, 1.0e-2]}\n")
    # int(mask_ratio × MAX_ITEM_LIST_LENGTH) = 0: every bidirectional HydraRec trial crashes in its constructor.
    _write(spaces, "HydraRec.yaml", "mask_ratio: {choice: [0.05, 0.06]}\n")
    output = tmp_path / "tuning"
    args = dict(
        models=["SASRec", "HydraRec:bidirectional"],
        dataset="ml-100k",
        num_samples=2,
        max_epochs=1,
        output_dir=str(output),
        overrides=SMALL,
        space_dir=str(spaces),
        command="tune --test",
    )

    _, finished = tune_models(**args, callbacks=[InterruptOnce(tmp_path)])
    assert not finished
    assert not any(row for row in _summary(output) if row["model"] == "SASRec")
    assert tune.Tuner.can_restore(str(output / "ray_results" / "SASRec-causal"))

    text, finished = tune_models(**args, callbacks=[InterruptOnce(tmp_path)])  # the same command: resume
    assert finished
    rows = {row["model"]: row for row in _summary(output)}
    sasrec, hydra = rows["SASRec"], rows["HydraRec"]
    assert (sasrec["mode"], sasrec["status"], sasrec["trials"], sasrec["failed_trials"]) == ("causal", "ok", "2", "0")
    assert 0 < float(sasrec["best_valid_ndcg@10"]) <= 1
    for column in ("test_hit@10", "test_ndcg@10", "test_mrr@10", "test_ndcg@20"):
        assert 0 <= float(sasrec[column]) <= 1, column
    assert set(json.loads(sasrec["best_config"])) == {"learning_rate"}
    assert os.path.isfile(sasrec["checkpoint"])
    assert (hydra["mode"], hydra["trials"], hydra["failed_trials"]) == ("bidirectional", "2", "2")
    assert hydra["status"].startswith("failed")
    assert "| SASRec" in text and (output / "tuning_summary.md").read_text() == text
    trials = read_rows(output / "trials.csv")  # every trial, best first, its config in columns
    assert [(t["model"], t["status"], t["epochs"]) for t in trials if t["model"] == "SASRec"] == [
        ("SASRec", "ok", "1")
    ] * 2
    sasrec_trials_rows = [t for t in trials if t["model"] == "SASRec"]
    local_node = ray.get_runtime_context().get_node_id()  # where each trial ran: the local Ray's one node
    assert {(t["node_id"], t["host"], t["device"]) for t in sasrec_trials_rows} == {
        (local_node, socket.gethostname(), "cpu")
    }
    assert float(sasrec_trials_rows[0]["best_valid_ndcg@10"]) == pytest.approx(float(sasrec["best_valid_ndcg@10"]))
    assert float(sasrec_trials_rows[0]["seconds_per_epoch"]) > 0
    assert float(sasrec_trials_rows[0]["learning_rate"]) == pytest.approx(
        json.loads(sasrec["best_config"])["learning_rate"]
    )
    hydra_trials = [t for t in trials if t["model"] == "HydraRec"]
    assert len(hydra_trials) == 2 and all(
        t["status"].startswith("failed: ") and "mask_ratio" in t["status"] for t in hydra_trials
    )
    with pytest.raises(ConfigError, match="num_samples"):  # a different search in the same folder
        tune_models(**dict(args, num_samples=3))

    # The trial that had finished before Ctrl-C was not run again; the interrupted one was.
    starts = [line.split()[1] for line in (tmp_path / "events.txt").read_text().splitlines()]
    sasrec_trials = os.listdir(output / "checkpoints" / "SASRec-causal")
    assert len(sasrec_trials) == 2
    assert sorted(starts.count(trial) for trial in sasrec_trials) == [1, 2]


def _summary(output):
    return read_rows(output / "tuning_summary.csv")
