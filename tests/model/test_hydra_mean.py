"""hydra_mean: Hydra's sum divided by the number of real positions it sums over, in every form."""

import pytest
import torch
from recbole.data import create_dataset
from recbole.utils import get_model

from recbole_hydra.model.mixers import HydraAttention
from recbole_hydra.model.mixers.token_mixer import gather_positions
from recbole_hydra.runtime.config import build_config

B, N, D = 3, 7, 8


@pytest.fixture
def inputs():
    torch.manual_seed(0)
    x = torch.randn(B, N, D, dtype=torch.float64)
    mask = torch.arange(N) < torch.tensor([[7], [4], [1]])
    return x, mask


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "bidirectional"])
def test_mean_is_the_sum_over_the_count(inputs, causal):
    x, mask = inputs
    plain = HydraAttention(D, causal=causal).double().eval()
    mean = HydraAttention(D, causal=causal, mean=True).double().eval()
    mean.load_state_dict(plain.state_dict())
    summed = plain.mix(plain.qkv(x), mask)  # (B, N, D)
    real = mask.double()
    counts = (real.cumsum(1) if causal else real.sum(1, keepdim=True).expand(-1, N)).clamp_min(1)
    torch.testing.assert_close(mean.mix(mean.qkv(x), mask), summed / counts.unsqueeze(-1))
    index = torch.tensor([[6], [3], [0]]) if causal else torch.tensor([[6, 1], [3, 0], [0, 0]])
    torch.testing.assert_close(mean(x, mask, index), gather_positions(mean(x, mask), index))


def test_step_replays_forward_with_its_count(inputs):
    x, _ = inputs
    mean = HydraAttention(D, causal=True, mean=True).double().eval()
    full = mean(x, torch.ones(B, N, dtype=torch.bool))
    state = mean.initial_state(B)
    assert state.shape == (B, D + 1)
    for t in range(N):
        out, state = mean.step(x[:, t], state)
        torch.testing.assert_close(out, full[:, t])
    assert (state[:, -1] == N).all()


def test_model_step_replays_encode(tiny_config):
    config = build_config("HydraRec", "ml-100k", overrides=dict(tiny_config, n_layers=2, hydra_mean=True))
    model = get_model("HydraRec")(config, create_dataset(config)).double().eval()
    torch.manual_seed(0)
    n = config["MAX_ITEM_LIST_LENGTH"]
    seq = torch.randint(1, model.n_items, (4, n))
    with torch.no_grad():
        full = model.encode(seq)
        states = model.initial_state(4)
        for t in range(n):
            h, states = model.step(seq[:, t], torch.full((4,), t), states)
            torch.testing.assert_close(h, full[:, t])
