"""The CSV/TSV → atomic-file converter: same checks, atomic output, never overwrites without --force."""

import os
import subprocess
import sys

import pytest

from recbole_hydra.cli import main as cli_main
from recbole_hydra.files import load_yaml
from recbole_hydra.runtime.config import build_config
from recbole_hydra.runtime.datasets import check_dataset

from helpers import REPO

GOOD_CSV = "userId,movieId,rating,timestamp\n" + "".join(
    f"{user},{item},4.0,{1000 + 10 * step}\n" for user in (1, 2, 3) for step, item in enumerate((10, 20, 30, 40))
)


def main(argv):
    """`run_hydrarec.py convert ARGS`, in this process."""
    return cli_main(["convert", *argv])


def _write(path, text, encoding="utf-8"):
    path.write_text(text, encoding=encoding)
    return str(path)


def _convert(tmp_path, source, *options):
    return main([source, "mine", "--out", str(tmp_path / "out"), *options])


def test_converts_csv_into_files_recbole_and_the_checks_accept(tmp_path, capsys):
    source = _write(tmp_path / "ratings.csv", GOOD_CSV)
    assert _convert(tmp_path, source, "--user-col", "userId", "--item-col", "movieId") == 0
    inter = tmp_path / "out" / "mine" / "mine.inter"
    lines = inter.read_text().splitlines()
    assert lines[0] == "user_id:token\titem_id:token\ttimestamp:float"
    assert lines[1:3] == ["1\t10\t1000", "1\t20\t1010"] and len(lines) == 13
    assert "wrote" in capsys.readouterr().out
    settings = load_yaml(tmp_path / "out" / "mine" / "mine.yaml")
    assert settings["load_col"] == {"inter": ["user_id", "item_id", "timestamp"]}
    config = build_config("HydraRec", "mine", [str(tmp_path / "out" / "mine" / "mine.yaml")])
    (summary,) = check_dataset(config)
    assert (summary.interactions, summary.users, summary.items) == (12, 3, 4)


def test_tsv_without_header_and_dates(tmp_path):
    rows = "".join(f"u{user}\tx\ti{step}\t2024-01-0{step + 1} 10:00\n" for user in (1, 2) for step in range(4))
    source = _write(tmp_path / "log.tsv", rows)
    status = _convert(
        tmp_path,
        source,
        "--names",
        "user,skip,item,when",
        "--user-col",
        "user",
        "--item-col",
        "item",
        "--time-col",
        "when",
        "--time-format",
        "%Y-%m-%d %H:%M",
    )
    assert status == 0
    lines = (tmp_path / "out" / "mine" / "mine.inter").read_text().splitlines()
    assert lines[1] == "u1\ti0\t1704103200"  # 2024-01-01 10:00 UTC


@pytest.mark.parametrize(
    "text, options, expected",
    [
        ("", (), "ratings.csv: empty file; expected a header line"),
        ("user_id,item_id,timestamp\n", (), "ratings.csv: no interactions after the header line"),
        (
            "uid,item_id,timestamp\n1,2,3\n",
            (),
            "ratings.csv line 1: no column 'user_id' (option --user-col); found 'uid', 'item_id', 'timestamp'",
        ),
        (
            "user_id,item_id,timestamp\n1,2,3\n1,2\n",
            (),
            "ratings.csv line 3: 2 columns, expected 3 (user_id, item_id, timestamp) separated by ','",
        ),
        (
            "user_id,item_id,timestamp\n1,2,3\n1,3,yesterday\n",
            (),
            "ratings.csv line 3: timestamp (--time-col) is 'yesterday', not a number; "
            "expected a number that orders the interactions (use --time-format for dates)",
        ),
        (
            "user_id,item_id,timestamp\n1,2,2024-13-01\n",
            ("--time-format", "%Y-%m-%d"),
            "ratings.csv line 2: timestamp is '2024-13-01'; expected a time in --time-format '%Y-%m-%d'",
        ),
        ("user_id,item_id,timestamp\n1,,3\n", (), "ratings.csv line 2: item_id (--item-col) is empty; expected an id"),
        (
            "user_id,item_id,timestamp\nNULL,2,3\n",
            (),
            "ratings.csv line 2: user_id (--user-col) is 'NULL', which pandas reads as a missing value",
        ),
        (
            'user_id,item_id,timestamp\n1,"a\tb",3\n',
            (),
            "ratings.csv line 2: item_id (--item-col) holds a tab or line break",
        ),
        (
            "user_id,item_id,timestamp\n1,2,3\n1,3,4\n2,2,3\n",
            (),
            "ratings.csv line 4: user '2' has 1 interaction; expected at least 2 per user",
        ),
        (
            "user_id,item_id,timestamp\n1,2,3\n2,2,3\n",
            ("--min-user-interactions", "2"),
            "ratings.csv: every user has fewer than 2 interactions",
        ),
        (
            "user_id,item_id,timestamp\n1,2,3\n1,3,4\n1,4,5\n",
            (),
            "ratings.csv: no user has 4 interactions (the most is 3)",
        ),
    ],
)
def test_bad_input_fails_with_one_line_and_writes_nothing(tmp_path, capsys, text, options, expected):
    source = _write(tmp_path / "ratings.csv", text)
    assert _convert(tmp_path, source, *options) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert expected in err, err
    assert not os.path.exists(tmp_path / "out" / "mine" / "mine.inter")


def test_latin1_input_names_the_line(tmp_path, capsys):
    source = tmp_path / "ratings.csv"
    source.write_bytes("user_id,item_id,timestamp\n1,a,1\n1,caf\xe9,2\n".encode("latin-1"))
    assert _convert(tmp_path, str(source)) == 2
    assert "ratings.csv line 3: not valid utf-8-sig text" in capsys.readouterr().err
    assert (
        _convert(tmp_path, str(source), "--encoding", "latin-1", "--min-user-interactions", "1") == 2
    )  # 2 < 4: no validation
    assert "no user has 4 interactions" in capsys.readouterr().err


def test_sparse_users_can_be_dropped(tmp_path, capsys):
    source = _write(tmp_path / "ratings.csv", GOOD_CSV.replace("userId,movieId", "user_id,item_id") + "9,10,4.0,5\n")
    assert _convert(tmp_path, source, "--min-user-interactions", "2") == 0
    assert "dropped 1 users with fewer than 2 interactions" in capsys.readouterr().out
    assert "\n9\t" not in (tmp_path / "out" / "mine" / "mine.inter").read_text()


def test_never_overwrites_without_force(tmp_path, capsys):
    source = _write(tmp_path / "ratings.csv", GOOD_CSV.replace("userId,movieId", "user_id,item_id"))
    assert _convert(tmp_path, source) == 0
    inter = tmp_path / "out" / "mine" / "mine.inter"
    inter.write_text("precious")
    assert _convert(tmp_path, source) == 2
    assert "mine.inter already exists; expected a new dataset name, or --force" in capsys.readouterr().err
    assert inter.read_text() == "precious"
    assert _convert(tmp_path, source, "--force") == 0
    assert inter.read_text().startswith("user_id:token")
    assert sorted(os.listdir(inter.parent)) == ["mine.inter", "mine.yaml"]  # no temporary files left


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    """An error while writing (a full disk, a kill) leaves the previous output whole."""
    source = _write(tmp_path / "ratings.csv", GOOD_CSV.replace("userId,movieId", "user_id,item_id"))
    assert _convert(tmp_path, source) == 0
    inter = tmp_path / "out" / "mine" / "mine.inter"
    before = inter.read_text()

    def fail(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError):
        _convert(tmp_path, source, "--force")
    assert inter.read_text() == before
    assert sorted(os.listdir(inter.parent)) == ["mine.inter", "mine.yaml"]


def test_cli_help_runs():
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, "dataset", "convert.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0
    assert "--user-col" in result.stdout and "--force" in result.stdout
