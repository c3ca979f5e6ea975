"""HydraRec end to end through RecBole's own entry points, in both modes, on ml-100k."""

import glob
import os

import pytest
import torch
from recbole.quick_start import load_data_and_model, run_recbole

RANDOM_NDCG_AT_10 = 0.003  # ~ 10 / 1682 items, discounted


def _train(config, **extra):
    result = run_recbole(model="HydraRec", dataset="ml-100k", config_dict=dict(config, **extra))
    checkpoints = sorted(glob.glob(os.path.join(config["checkpoint_dir"], "HydraRec-*.pth")), key=os.path.getmtime)
    return result, checkpoints[-1]


@pytest.fixture(scope="module")
def causal_run(workdir):
    from helpers import TINY

    return _train(dict(TINY, checkpoint_dir=str(workdir / "causal")))


@pytest.fixture(scope="module")
def bidirectional_run(workdir):
    from helpers import TINY

    return _train(dict(TINY, checkpoint_dir=str(workdir / "bidirectional")), bidirectional=True, epochs=2)


@pytest.mark.parametrize("run", ["causal_run", "bidirectional_run"])
def test_run_recbole_trains_to_better_than_random(run, request):
    result, checkpoint = request.getfixturevalue(run)
    assert os.path.isfile(checkpoint)
    ndcg = result["test_result"]["ndcg@10"]
    assert ndcg > 3 * RANDOM_NDCG_AT_10, f"test NDCG@10 {ndcg} is no better than random"


@pytest.mark.parametrize("run", ["causal_run", "bidirectional_run"])
def test_checkpoint_round_trip_gives_the_same_scores(run, request):
    _, checkpoint = request.getfixturevalue(run)
    config, model, _, _, _, test_data = load_data_and_model(checkpoint)
    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(tensor, saved[name])
    assert model.bidirectional == (run == "bidirectional_run")
    model.eval()
    batch = next(iter(test_data))[0]
    with torch.no_grad():
        first, second = model.full_sort_predict(batch), model.full_sort_predict(batch)
    assert first.shape == (len(batch), model.n_items)
    assert torch.isfinite(first).all()
    torch.testing.assert_close(first, second)


def test_a_loaded_checkpoint_evaluates_in_a_process_that_built_no_config(causal_run, monkeypatch):
    """RecBole's metrics use numpy aliases (np.float, ...) that only a Config's __init__ puts back;
    a fresh process (a Ray worker testing a trial's checkpoint) builds none before loading one."""
    import numpy as np
    from recbole.utils import get_trainer

    for alias in ("bool", "int", "float", "complex", "object", "str", "long", "unicode"):
        monkeypatch.delattr(np, alias, raising=False)
    _, checkpoint = causal_run
    config, model, _, _, _, test_data = load_data_and_model(checkpoint)
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    result = trainer.evaluate(test_data, load_best_model=False, show_progress=False)
    assert 0 <= result["ndcg@10"] <= 1


def test_plain_torch_load_stays_weights_only(causal_run):
    """The checkpoint fix must not switch torch's safety check off for anyone else."""
    import pickle

    _, checkpoint = causal_run
    with pytest.raises(pickle.UnpicklingError):
        torch.load(checkpoint)


def test_bpr_loss_trains(tiny_config):
    result = run_recbole(
        model="HydraRec",
        dataset="ml-100k",
        config_dict=dict(
            tiny_config, loss_type="BPR", train_neg_sample_args={"distribution": "uniform", "sample_num": 1}
        ),
    )
    assert result["test_result"]["ndcg@10"] > 0


@pytest.mark.parametrize("act", ["gelu", "swish"])
def test_fused_activation_is_recboles_function(act):
    """HydraLayer swaps RecBole's written-out GELU / swish for torch's fused kernels: same values."""
    from recbole_hydra.model import HydraLayer

    layer = HydraLayer(8, 16, causal=True, hidden_dropout=0.0, attn_dropout=0.0, hidden_act=act, eps=1e-12)
    x = torch.randn(4, 100, dtype=torch.float64) * 4
    recboles = layer.feed_forward.get_hidden_act(act)
    torch.testing.assert_close(layer.feed_forward.intermediate_act_fn(x), recboles(x))


@pytest.mark.parametrize("attention", ["hydra", "softmax", "linrec", "elu"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["causal", "bidirectional"])
def test_trailing_padding_changes_no_output(attention, bidirectional):
    """A batch cut after its last item (trim_padding) gives the real positions the same outputs, so
    the losses and scores skip the padding columns without changing a number."""
    from recbole_hydra.model.hydrarec import trim_padding
    from recbole_hydra.model.layer import HydraLayer

    torch.manual_seed(0)
    layers = torch.nn.ModuleList(
        HydraLayer(16, 32, causal=not bidirectional, hidden_dropout=0.0, attn_dropout=0.0, hidden_act="gelu",
                   eps=1e-12, attention=attention, n_heads=2, local_window=2 if bidirectional else 0)
        for _ in range(2)
    ).eval()  # fmt: skip
    for layer in layers:
        if layer.local is not None:
            torch.nn.init.normal_(layer.local.conv.weight)  # zero at start: make the local term count
    seq = torch.tensor([[3, 1, 4, 1, 5, 0, 0, 0, 0, 0], [2, 7, 0, 0, 0, 0, 0, 0, 0, 0]])  # N = 10, reaches 5
    (trimmed,) = trim_padding(seq)
    assert trimmed.shape == (2, 5)

    base = torch.randn(10, 16)  # a per-position input, as the position embeddings give

    def encode(items):
        x = base[: items.size(1)] + items.unsqueeze(-1).float()
        for layer in layers:
            x = layer(x, items != 0)
        return x

    real = seq[:, :5] != 0
    torch.testing.assert_close(encode(seq)[:, :5][real], encode(trimmed)[real])


@pytest.mark.parametrize("attention", ["hydra", "softmax", "linrec", "elu"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["causal", "bidirectional"])
def test_per_position_parts_on_real_positions_only_change_no_loss_or_gradient(attention, bidirectional, monkeypatch):
    """Projections, norms and feed-forward run on the real positions only (on_real_positions) and
    leave zeros at the padding: the loss and every parameter's gradient are those of running them
    at every position, and padding outputs are zero."""
    from recbole_hydra.model import layer as layer_module
    from recbole_hydra.model.layer import HydraLayer
    from recbole_hydra.model.mixers import token_mixer

    torch.manual_seed(0)
    layers = torch.nn.ModuleList(
        HydraLayer(16, 32, causal=not bidirectional, hidden_dropout=0.0, attn_dropout=0.0, hidden_act="gelu",
                   eps=1e-12, attention=attention, n_heads=2, local_window=2)
        for _ in range(2)
    ).double()  # fmt: skip
    for layer in layers:
        torch.nn.init.normal_(layer.local.conv.weight)  # zero at start: make the local term count
    seq = torch.tensor([[3, 1, 4, 1, 5, 9], [2, 7, 0, 0, 0, 0], [6, 0, 0, 0, 0, 0]])
    inputs = torch.randn(3, 6, 16, dtype=torch.float64)
    targets = torch.randn(3, 6, 16, dtype=torch.float64)

    def loss_and_gradients():
        layers.zero_grad()
        x = inputs
        for layer in layers:
            x = layer(x, seq != 0)
        loss = (x[seq != 0] * targets[seq != 0]).sum()
        loss.backward()
        return x, loss.detach(), [p.grad.clone() for p in layers.parameters()]

    output, loss, gradients = loss_and_gradients()
    assert output[seq == 0].eq(0).all()
    for module in (layer_module, token_mixer):
        monkeypatch.setattr(module, "on_real_positions", lambda per_position, mask, *tensors: per_position(*tensors))
    every_output, every_loss, every_gradient = loss_and_gradients()
    assert every_output[seq == 0].ne(0).any()  # the reference did compute the padding
    torch.testing.assert_close(output[seq != 0], every_output[seq != 0])
    torch.testing.assert_close(loss, every_loss)
    for got, expected in zip(gradients, every_gradient):
        torch.testing.assert_close(got, expected)
