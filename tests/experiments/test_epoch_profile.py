"""`profile`: one epoch broken into stages that account for it, FLOPs counted from the shapes, a table written."""

import pytest
import torch

from recbole_hydra.cli import main
from recbole_hydra.experiments import epoch_profile
from recbole_hydra.experiments.epoch_profile import _stage_flops, profile_epoch
from recbole_hydra.runtime.config import build_config
from recbole_hydra.runtime.training import prepare

from helpers import overrides, write_dataset


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("profile")
    write_dataset(folder)
    return folder


@pytest.mark.parametrize("extra", [{}, {"bidirectional": True, "mask_ratio": 0.5}, {"attention": "softmax"}])
def test_the_stages_and_the_floor_cover_one_epoch(folder, extra):
    result = profile_epoch(build_config("HydraRec", "syn", overrides=overrides(folder, **extra)), batches=2)
    rows = {row["stage"]: row for row in result["rows"]}
    assert {"data (loader, collation)", "mixer", "loss over the items", "training epoch (measured)"} <= set(rows)
    assert all(row["seconds"] >= 0 for row in rows.values()) and result["epoch_seconds"] > 0
    # FLOPs only where matrix products are; the floor is their sum at the measured rate.
    assert rows["embeddings"]["gflop"] == 0 and rows["mixer"]["gflop"] > 0 and rows["loss over the items"]["gflop"] > 0
    assert result["floor"] == pytest.approx(sum(row.get("floor", 0) for row in result["rows"][:-2]))
    assert 0 < result["floor"] <= result["slot_floor"]


@pytest.mark.parametrize("window", [0, 2])
def test_the_local_term_is_a_stage_of_its_own_where_the_model_has_one(folder, window):
    config = build_config("HydraRec", "syn", overrides=overrides(folder, local_window=window))
    stages = [row["stage"] for row in profile_epoch(config, batches=1)["rows"]]
    assert ("local term" in stages) == bool(window)
    assert stages.index("mixer") < stages.index("norms and feed-forward")


def test_drawing_the_random_gradient_is_left_out_of_a_stage_time(monkeypatch):
    """A stage's clock covers its forward and backward only; the gradient drawn between them costs a second here."""
    clock = [0.0]
    draw = torch.randn_like

    def slow_draw(tensor):
        clock[0] += 1.0
        return draw(tensor)

    monkeypatch.setattr(epoch_profile.time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(epoch_profile.torch, "randn_like", slow_draw)
    assert epoch_profile._forward_backward(lambda x: 2 * x, torch.ones(3)) == 0.0
    assert clock[0] == 1.0  # the gradient was drawn


def test_flops_follow_the_shapes(folder):
    """Causal, one layer of D = 16, F = 32: the formulas evaluated by hand for one captured batch."""
    config = build_config("HydraRec", "syn", overrides=overrides(folder))
    model, train, _, _ = prepare(config)
    batch = next(iter(train))
    seq = batch["item_id_list"]
    b, n = seq.shape
    x = model.embed(seq)
    targets = batch["Target_item_id_list"]
    r = int((targets > 0).sum())
    captured = {
        ("layer", 0): [(x, seq != 0, None)],
        "loss": (x.new_zeros(r, 16), targets[targets > 0], None),
    }
    flops = _stage_flops(model, captured)
    p, d, f, i = b * n, 16, 32, model.n_items
    real = float((seq != 0).float().mean())
    assert real < 1  # the batch has padding, which the layers skip: the first floor counts real slots
    assert flops["mixer"][1] == 3 * (2 * p * d * 3 * d + 2 * p * d * d)
    assert flops["norms and feed-forward"][1] == 3 * 2 * 2 * p * d * f
    assert flops["mixer"][0] == pytest.approx(flops["mixer"][1] * real)
    assert flops["norms and feed-forward"][0] == pytest.approx(flops["norms and feed-forward"][1] * real)
    assert flops["loss over the items"] == (3 * 2 * r * d * i,) * 2


def test_cli_writes_the_table(folder, tmp_path, capsys):
    settings = [f"--{key}={value!r}" if isinstance(value, str) else f"--{key}={value}" for key, value in
                overrides(folder).items()]  # fmt: skip
    assert main(["profile", "--dataset", "syn", "--batches", "1", "--output", str(tmp_path), *settings]) == 0
    text = (tmp_path / "profile.md").read_text()
    assert (
        "| loss over the items" in text and "FLOP floor" in text and "Command: `python run_hydrarec.py profile" in text
    )
    assert (tmp_path / "profile.csv").exists()
