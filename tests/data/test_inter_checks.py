"""Dataset checks: every file in tests/fixtures/inter/broken fails with its one line; good files and ml-100k pass."""

import glob
import os
import shutil
import subprocess
import sys

import pytest

from recbole_hydra.cli import main
from recbole_hydra.data.inter_checks import DatasetError, InterSpec, check_dataset, check_inter_file
from recbole_hydra.runtime.config import build_config

from helpers import FIXTURES, REPO

DATA = os.path.join(FIXTURES, "inter")
SEQUENTIAL = InterSpec(encoding="utf-8", min_user_interactions=2, eval_min_interactions=4)  # HydraRec's defaults

# Each broken file: the line it fails on ("" where no single line is at fault) and what the message says.
BROKEN = {
    "empty_file.inter": (
        "",
        "empty file; expected a header line user_id:token, item_id:token, timestamp:float separated by '\\t'",
    ),
    "header_only.inter": ("", "no interactions after the header line"),
    "missing_user_field.inter": (
        "line 1",
        "no 'user_id' column (config key USER_ID_FIELD); found uid, item_id, timestamp",
    ),
    "missing_item_field.inter": ("line 1", "no 'item_id' column (config key ITEM_ID_FIELD); found user_id, movie_id"),
    "missing_timestamp_field.inter": ("line 1", "no 'timestamp' column (config key TIME_FIELD)"),
    "untyped_header.inter": ("line 1", "column 1 is 'user_id'; expected name:type"),
    "unknown_type.inter": ("line 1", "column 'timestamp' has type 'int'; expected one of token, float"),
    "space_after_type.inter": ("line 1", "column 'item_id' has type 'token '"),
    "trailing_separator_in_header.inter": ("line 1", "column 4 is ''; expected name:type"),
    "timestamp_declared_token.inter": ("line 1", "column 'timestamp' is declared 'token'; expected 'timestamp:float'"),
    "user_id_declared_float.inter": ("line 1", "column 'user_id' is declared 'float'; expected 'user_id:token'"),
    "duplicate_column.inter": ("line 1", "column 'item_id' appears twice"),
    "comma_separated.inter": ("line 1", "the header has no '\\t' but has ','"),
    "byte_order_mark.inter": ("line 1", "starts with a byte-order mark"),
    "too_few_columns.inter": ("line 3", "2 columns, expected 3 (user_id, item_id, timestamp) separated by '\\t'"),
    "too_many_columns.inter": ("line 5", "4 columns, expected 3"),
    "non_numeric_timestamp.inter": ("line 4", "timestamp is '2021-01-01', not a number; expected a number that orders"),
    "empty_timestamp.inter": ("line 6", "timestamp is '', not a number"),
    "infinite_timestamp.inter": ("line 7", "timestamp is 'inf', not a finite number"),
    "nan_timestamp.inter": ("line 2", "timestamp is 'nan', not a finite number"),
    "empty_user_id.inter": ("line 3", "user_id is empty; expected a user id"),
    "empty_item_id.inter": ("line 8", "item_id is empty; expected an item id"),
    "item_id_read_as_missing.inter": ("line 5", "item_id is 'NA', which pandas reads as a missing value"),
    "quoted_user_id.inter": ("line 6", "user_id is '\"u2': pandas reads a leading double quote"),
    "non_numeric_rating.inter": ("line 4", "rating is 'good', not a number; expected a number or nothing"),
    "not_utf8.inter": ("line 5", "not valid utf-8 text"),
    "user_with_one_interaction.inter": (
        "line 10",
        "user 'u3' has 1 interaction (1 more user too); expected at least 2",
    ),
    "no_user_reaches_validation.inter": ("", "no user has 4 interactions (the most is 3)"),
}


def test_every_broken_file_has_an_expected_message():
    assert sorted(BROKEN) == sorted(os.listdir(os.path.join(DATA, "broken")))


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_file_fails_with_one_line_naming_file_and_line(name):
    path = os.path.join(DATA, "broken", name)
    line, fragment = BROKEN[name]
    with pytest.raises(DatasetError) as caught:
        check_inter_file(path, SEQUENTIAL)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path} {line}:" if line else f"{path}:"), message
    assert fragment in message, message


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(DATA, "good", "*.inter"))), ids=os.path.basename)
def test_good_edge_cases_pass(path):
    summary = check_inter_file(path, SEQUENTIAL)
    assert (summary.interactions, summary.users, summary.items) == (8, 2, 4)


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
