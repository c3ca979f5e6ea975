"""The bench command, its report, the compile fallback and mixed precision. No timed assertions."""

import csv
import logging

import pytest
import torch
from recbole.data import create_dataset
from recbole.data.transform import construct_transform
from recbole.utils import get_model

from recbole_hydra.cli import main
from recbole_hydra.config_errors import ConfigError
from recbole_hydra.experiments.benchmarks.bench_cells import (
    CSV_COLUMNS,
    LAYER_COLUMNS,
    BenchSettings,
    Cell,
    plan_cells,
    synthetic_batch,
)
from recbole_hydra.experiments.benchmarks.bench_runner import median_over_rounds, run_cell, run_worker
from recbole_hydra.experiments.reports.bench_report import main_table, parts_table
from recbole_hydra.model import HydraAttention
from recbole_hydra.model.config_checks import check_model_config
from recbole_hydra.model.mixers import hydra_kernels
from recbole_hydra.runtime.config import build_config

TINY_BENCH = [
    "--lengths",
    "8",
    "16",
    "--hidden-size",
    "8",
    "--repeats",
    "1",
    "--warmup",
    "1",
    "--models",
    "HydraRec",
    "SASRec",
    "--token-budget",
    "256",
]


def read_csv(path):
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


def test_bench_writes_csv_png_and_tables(workdir, capsys):
    out = workdir / "bench_tiny"
    assert main(["bench", *TINY_BENCH, "--no-isolate", "--output", str(out)]) == 0

    columns, rows = read_csv(out / "bench.csv")
    assert columns == CSV_COLUMNS
    full = [(r["model"], r["mode"], int(r["seq_len"])) for r in rows if r["variant"] == "full"]
    assert full == [
        ("HydraRec", "causal", 8),
        ("HydraRec", "bidirectional", 8),
        ("SASRec", "causal", 8),
        ("HydraRec", "causal", 16),
        ("HydraRec", "bidirectional", 16),
        ("SASRec", "causal", 16),
    ]
    assert {r["variant"] for r in rows} == {"full", "plain", "recbole_gelu", "no_mix", "no_layers"}
    for row in rows:
        assert row["status"] == "ok", row
        assert int(row["batch_size"]) == 256 // int(row["seq_len"])
        assert float(row["train_ms"]) > 0 and float(row["infer_ms"]) > 0
        assert float(row["peak_mem_mb"]) >= 0 and row["mem_measure"]
    with open(out / "bench.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    layer_columns, layer_rows = read_csv(out / "layer_overhead.csv")
    assert layer_columns == LAYER_COLUMNS and len(layer_rows) == 4

    printed = capsys.readouterr().out
    assert "train/SASRec" in printed and "mixing share" in printed and "train overhead" in printed
    assert (out / "bench.md").read_text().startswith("Command: `python run_hydrarec.py bench")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--lengths", "50", "0"], "option --lengths must be a positive integer"),
        (["--models", "Pop"], "option --models: 'Pop' is a traditional model"),
        (["--dropout", "1.5"], "option --dropout must be a number in [0, 1)"),
    ],
)
def test_bad_options_exit_2_naming_the_option(workdir, capsys, argv, message):
    assert main(["bench", *argv, "--output", str(workdir / "never")]) == 2
    assert message in capsys.readouterr().err
    assert not (workdir / "never").exists()


def test_a_cell_runs_in_its_own_process(workdir):
    settings = BenchSettings(hidden_size=8, repeats=1, warmup=1, token_budget=32, layer_overhead=False)
    row = run_cell(Cell("HydraRec", "bidirectional", 8, 4), settings)
    assert row["status"] == "ok", row
    assert row["mem_measure"] in ("cpu_rss_peak_delta", "cpu_ru_maxrss_delta_lower_bound")
    assert row["train_steps_timed"] == 1 and row["peak_mem_mb"] >= 0


def test_failures_become_rows_not_crashes(monkeypatch):
    settings = BenchSettings(isolate=False)
    cell = Cell("SASRec", "causal", 8, 4)

    def out_of_memory(*args):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")

    # In-process (--no-isolate), so the patched function is the one that runs.
    monkeypatch.setattr("recbole_hydra.experiments.benchmarks.bench_cells.measure_cell", out_of_memory)
    row = run_cell(cell, settings)
    assert row["status"] == "oom" and "can't allocate" in row["note"]
    assert row["train_ms"] is None

    result, failure = run_worker("cell", settings, timeout_s=0.01, cell=cell)
    assert result is None and failure[0] == "timeout"


def test_rounds_give_each_cell_its_median_round():
    def row(train, status="ok"):
        ms = None if status != "ok" else train
        return {
            "model": "SASRec",
            "status": status,
            "note": "" if ms else "over 300 s",
            "train_ms": ms,
            "infer_ms": ms,
            "peak_mem_mb": ms,
            "infer_peak_mem_mb": ms,
            "train_wall_ms": ms,
            "infer_wall_ms": ms,
            "train_steps_timed": 5,
            "infer_steps_timed": 5,
            "rounds": 1,
        }

    rounds = [
        [row(10.0), row(1.0), row(0, "timeout")],
        [row(30.0), row(0, "timeout"), row(0, "timeout")],
        [row(20.0), row(3.0), row(0, "oom")],
    ]
    steady, flaky, failed = median_over_rounds(rounds)
    assert steady["train_ms"] == 20.0 and steady["rounds"] == 3 and steady["note"] == ""
    assert flaky["train_ms"] == 2.0 and flaky["rounds"] == 2 and "1 of 3 rounds failed (timeout" in flaky["note"]
    assert failed["status"] == "timeout" and failed["rounds"] == 0 and failed["train_ms"] is None


def test_plan_has_two_hydrarec_rows_per_length_and_same_tokens():
    cells = plan_cells(BenchSettings(lengths=(50, 4000), models=("HydraRec", "BERT4Rec"), parts=False))
    assert [(c.model, c.mode, c.seq_len, c.batch_size) for c in cells] == [
        ("HydraRec", "causal", 50, 327),
        ("HydraRec", "bidirectional", 50, 327),
        ("BERT4Rec", "bidirectional", 50, 327),
        ("HydraRec", "causal", 4000, 4),
        ("HydraRec", "bidirectional", 4000, 4),
        ("BERT4Rec", "bidirectional", 4000, 4),
    ]


def test_mixers_are_timed_in_both_modes_in_the_same_skeleton(workdir, capsys):
    out = workdir / "bench_mixers"
    argv = ["bench", "--lengths", "8", "--models", "HydraRec", "--mixers", "hydra", "softmax", "elu"]
    argv += ["--hidden-size", "8", "--layers", "1", "--repeats", "1", "--warmup", "0", "--token-budget", "64"]
    assert main([*argv, "--no-parts", "--no-layer-overhead", "--no-isolate", "--output", str(out)]) == 0
    _, rows = read_csv(out / "bench.csv")
    assert [(r["mode"], r["variant"], r["status"]) for r in rows] == [
        ("causal", "full", "ok"),
        ("bidirectional", "full", "ok"),
        ("causal", "attention=softmax", "ok"),
        ("bidirectional", "attention=softmax", "ok"),
        ("causal", "attention=elu", "ok"),
        ("bidirectional", "attention=elu", "ok"),
    ]
    assert "HydraRec (attention=elu)" in (out / "bench.md").read_text()
    assert main(["bench", "--models", "SASRec", "--mixers", "softmax", "--output", str(workdir / "never")]) == 2
    assert "add HydraRec to --models" in capsys.readouterr().err


def test_ratios_are_to_sasrec_at_the_same_length():
    def row(model, n, train, variant="full", status="ok"):
        return {
            "model": model,
            "mode": "causal",
            "variant": variant,
            "seq_len": n,
            "batch_size": 1,
            "train_ms": train,
            "infer_ms": train and train / 2,
            "peak_mem_mb": train and train * 10,
            "status": status,
            "note": "",
        }

    rows = [
        row("HydraRec", 50, 40.0),
        row("SASRec", 50, 80.0),
        row("HydraRec", 200, 10.0),
        row("SASRec", 200, None, status="timeout"),
        row("HydraRec", 50, 30.0, "no_mix"),
        row("HydraRec", 50, 20.0, "no_layers"),
        row("HydraRec", 50, 60.0, "plain"),
        row("HydraRec", 50, 52.0, "recbole_gelu"),
    ]
    table = main_table(rows).splitlines()
    assert "| 0.50 " in table[2]  # HydraRec at N=50: 40 / 80
    assert "timeout" in table[5] and "0.50" not in table[4]  # no reference at N=200, no ratio
    parts = parts_table(rows)
    # plain 60 / 80, +targets 52 / 80, no-mix floor 30 / 80, mixing share (40 - 30) / 40
    assert all(f"| {ratio} " in parts for ratio in ("0.75", "0.65", "0.50", "0.38", "0.25", "25%"))


# ----- compile option ------------------------------------------------------------------------


@pytest.fixture
def fresh_compiled_mix(monkeypatch):
    monkeypatch.setattr(hydra_kernels, "_compiled_mix", None)


def mix_inputs():
    torch.manual_seed(0)
    return torch.randn(2, 5, 12), torch.tensor([[True] * 5, [True, True, False, False, False]])


@pytest.mark.parametrize("failure", ["at_creation", "at_first_call"])
def test_compile_falls_back_to_eager_with_a_warning(monkeypatch, caplog, fresh_compiled_mix, failure):
    def no_compiler(*args):
        raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found")

    if failure == "at_creation":
        monkeypatch.setattr(torch, "compile", no_compiler)
    else:
        monkeypatch.setattr(torch, "compile", lambda fn: no_compiler)
    qkv, mask = mix_inputs()
    with caplog.at_level(logging.WARNING, logger="recbole_hydra.model.mixers.hydra_kernels"):
        layer = HydraAttention(4, causal=True, compile=True)
        out = layer.mix(qkv, mask)
        layer.mix(qkv, mask)  # warned once, not per call
    torch.testing.assert_close(out, hydra_kernels.hydra_mix(*qkv.chunk(3, dim=-1), mask, True))
    assert hydra_kernels.compiled_hydra_mix().compiled is None  # it gave up compiling, for good
    warnings = [r for r in caplog.records if "torch.compile is unavailable" in r.getMessage()]
    assert len(warnings) == 1 and "C++ compiler" in warnings[0].getMessage()


def test_compile_key_is_validated(tiny_config):
    config = build_config("HydraRec", "ml-100k", overrides=dict(tiny_config, compile=True))
    assert check_model_config(config)["compile"] is True
    with pytest.raises(ConfigError, match="'compile' must be True or False"):
        check_model_config(build_config("HydraRec", "ml-100k", overrides=dict(tiny_config, compile="yes")))


# ----- mixed precision -----------------------------------------------------------------------


@pytest.mark.parametrize("bidirectional", [False, True])
def test_bf16_autocast_keeps_hydrarec_finite(tiny_config, bidirectional):
    n = 50
    config = build_config(
        "HydraRec",
        "ml-100k",
        overrides=dict(tiny_config, MAX_ITEM_LIST_LENGTH=n, bidirectional=bidirectional, ft_ratio=0.0),
    )
    dataset = create_dataset(config)
    transform = construct_transform(config)
    torch.manual_seed(0)
    model = get_model("HydraRec")(config, dataset)
    batch = transform(dataset, synthetic_batch(config, dataset.num("item_id"), 8, n))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model.calculate_loss(batch)
        scores = model.full_sort_predict(batch)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(scores).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_bf16_long_causal_sum_stays_finite_and_close():
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 2, 4096, 16).unbind(0)  # a running sum over 4096 positions
    q, k, v = q.bfloat16(), k.bfloat16(), v.bfloat16()
    mask = torch.ones(2, 4096, dtype=torch.bool)
    low = hydra_kernels.hydra_mix(q, k, v, mask, True)
    exact = hydra_kernels.hydra_mix(q.double(), k.double(), v.double(), mask, True)  # same inputs, no rounding
    assert low.dtype == torch.bfloat16 and torch.isfinite(low).all()
    # Only the final rounding to bf16 (8 bits of mantissa) remains: the sum itself ran in fp32.
    torch.testing.assert_close(low.double(), exact, rtol=2**-7, atol=1e-3)
