"""The dataset check a run makes before RecBole reads anything: the files its Config names, checked
as its model and split will read them (data/inter_checks.py checks each file)."""

import os
import shutil
import subprocess
import sys

import pytest

from recbole_hydra.cli import main
from recbole_hydra.data.inter_checks import DatasetError
from recbole_hydra.runtime.config import build_config
from recbole_hydra.runtime.datasets import check_dataset

from helpers import FIXTURES, REPO

DATA = os.path.join(FIXTURES, "inter")


def test_ml_100k_passes():
    (summary,) = check_dataset(build_config("HydraRec", "ml-100k"))
    assert (summary.interactions, summary.users, summary.items) == (100000, 943, 1682)


def _dataset_from(broken_name, folder, name="mine"):
    os.makedirs(folder / name)
    shutil.copy(os.path.join(DATA, "broken", broken_name), folder / name / f"{name}.inter")
    return {"data_path": str(folder), "load_col": None}


def test_missing_dataset_folder(tmp_path):
    config = build_config("HydraRec", "mine", overrides={"data_path": str(tmp_path)})
    with pytest.raises(DatasetError, match=r"mine: dataset folder not found .* expected .*mine\.inter"):
        check_dataset(config)


def test_missing_inter_file(tmp_path):
    (tmp_path / "mine").mkdir()
    config = build_config("HydraRec", "mine", overrides={"data_path": str(tmp_path)})
    with pytest.raises(DatasetError, match=r"mine\.inter: file not found"):
        check_dataset(config)


def test_recbole_default_load_col_leaves_out_the_timestamp(tmp_path):
    """For a dataset that is not ml-100k RecBole loads only user_id and item_id: a sequential model
    would fail in data_preparation after the dataset was loaded."""
    os.makedirs(tmp_path / "mine")
    shutil.copy(os.path.join(DATA, "good", "crlf_line_endings.inter"), tmp_path / "mine" / "mine.inter")
    config = build_config("HydraRec", "mine", overrides={"data_path": str(tmp_path)})
    with pytest.raises(
        DatasetError,
        match=r"load_col/unload_col leave out the 'timestamp' column "
        r".*load_col: \{inter: \[user_id, item_id, timestamp\]\}",
    ):
        check_dataset(config)


def test_user_filter_is_mirrored(tmp_path):
    """A user RecBole will drop by user_inter_num_interval is no error."""
    overrides = _dataset_from("user_with_one_interaction.inter", tmp_path)
    with pytest.raises(DatasetError, match="user_inter_num_interval"):
        check_dataset(build_config("HydraRec", "mine", overrides=overrides))
    kept = check_dataset(build_config("HydraRec", "mine", overrides=dict(overrides, user_inter_num_interval="[2,inf)")))
    assert kept[0].users == 2


def test_other_field_names_come_from_the_config(tmp_path):
    overrides = _dataset_from("missing_item_field.inter", tmp_path)
    (summary,) = check_dataset(build_config("HydraRec", "mine", overrides=dict(overrides, ITEM_ID_FIELD="movie_id")))
    assert summary.items == 4


def test_downloadable_dataset_is_left_to_recbole(tmp_path):
    assert check_dataset(build_config("HydraRec", "ml-1m", overrides={"data_path": str(tmp_path)})) == []


@pytest.mark.parametrize("broken_name", ["too_few_columns.inter", "user_with_one_interaction.inter"])
def test_cli_exits_2_with_one_line_and_writes_nothing(broken_name, tmp_path, monkeypatch, capsys):
    data = tmp_path / "data"
    _dataset_from(broken_name, data)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    monkeypatch.chdir(run_dir)
    status = main(["train", "--dataset", "mine", f"--data_path={data}", "--load_col=None", "--epochs=1"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and "mine.inter line" in err
    assert os.listdir(run_dir) == []  # no log/, no saved/


def test_cli_subprocess_has_no_traceback(tmp_path):
    """The real entry point: status 2, one line on stderr, nothing written."""
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, "run_hydrarec.py"), "--dataset", "nowhere", f"--data_path={tmp_path}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert errors == [
        f"error: {tmp_path}/nowhere: dataset folder not found (config keys data_path and dataset="
        f"'nowhere'); expected {tmp_path}/nowhere/nowhere.inter in RecBole's atomic format "
        "(see dataset/README.md)"
    ]
    assert os.listdir(tmp_path) == []


def _every_training_path(data, output):
    """Each path that trains, started on the dataset 'mine' under `data` (writing under `output`)."""
    from recbole_hydra.experiments.compare import compare
    from recbole_hydra.experiments.tune import tune_models
    from recbole_hydra.online.fine_tune import fine_tune

    settings = {"data_path": str(data), "load_col": None, "epochs": 1, "checkpoint_dir": str(output / "saved")}
    arguments = [f"--{key}={value}" for key, value in settings.items()]
    searched = {key: value for key, value in settings.items() if key != "epochs"}  # tune sets it itself
    return {
        "train": lambda: main(["train", "--dataset", "mine", *arguments]),
        "compare": lambda: compare(["SASRec"], "mine", seeds=1, output_dir=str(output), overrides=settings),
        "tune": lambda: tune_models(["SASRec"], "mine", 1, 1, output_dir=str(output), overrides=searched),
        "stream": lambda: main(["stream", "--dataset", "mine", "--output", str(output), *arguments]),
        "fine_tune": lambda: fine_tune(None, None, build_config("HydraRec", "mine", overrides=settings)),
    }


@pytest.mark.parametrize("path", ["train", "compare", "tune", "stream", "fine_tune"])
def test_every_path_that_trains_checks_the_dataset_before_writing_anything(path, tmp_path, monkeypatch, capsys):
    _dataset_from("too_few_columns.inter", tmp_path / "data")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    monkeypatch.chdir(run_dir)
    try:
        status = _every_training_path(tmp_path / "data", run_dir / "out")[path]()
    except DatasetError as error:  # the library functions raise it; the CLI prints it
        message = str(error)
    else:
        assert status == 2
        message = capsys.readouterr().err
    assert "mine.inter line 3: 2 columns" in message
    assert os.listdir(run_dir) == []  # no log/, no saved/, no output folder
