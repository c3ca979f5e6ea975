"""The local term of a layer: a depthwise convolution over real neighbours (in causal mode, earlier ones)."""

import pytest
import torch

from recbole_hydra.model import HydraLayer
from recbole_hydra.model.local_mixing import LocalMixing


@pytest.mark.parametrize("causal, offsets", [(False, range(-2, 3)), (True, range(-2, 1))])
def test_local_mixing_is_the_weighted_sum_of_real_neighbours(causal, offsets):
    """Two-sided: the 2 neighbours on either side; causal: the item itself and the 2 before it."""
    torch.manual_seed(0)
    local = LocalMixing(4, window=2, causal=causal).double()
    torch.nn.init.normal_(local.conv.weight)
    x = torch.randn(2, 7, 4, dtype=torch.float64)
    mask = torch.arange(7) < torch.tensor([[7], [4]])  # second row: 3 padded positions
    weight = local.conv.weight[:, 0, :]  # (D, taps): offsets -2.. in order
    expected = torch.zeros_like(x)
    for b in range(2):
        for t in range(7):
            for j in offsets:
                if 0 <= t + j < 7 and mask[b, t + j]:
                    expected[b, t] += weight[:, j + 2] * x[b, t + j]
    torch.testing.assert_close(local(x, mask), expected)


def test_causal_step_replays_forward_and_a_bidirectional_one_has_no_step():
    torch.manual_seed(0)
    local = LocalMixing(4, window=3, causal=True).double()
    torch.nn.init.normal_(local.conv.weight)
    x = torch.randn(2, 6, 4, dtype=torch.float64)
    full = local(x, torch.ones(2, 6, dtype=torch.bool))
    recent = local.initial_state(2, torch.float64)
    assert recent.shape == (2, 3, 4) and not recent.any()
    for t in range(6):
        out, recent = local.step(x[:, t], recent)
        torch.testing.assert_close(out, full[:, t])
    with pytest.raises(ValueError, match="causal=True"):
        LocalMixing(4, window=1).step(x[:, 0], recent)


def test_it_starts_at_zero_in_either_mode():
    for causal in (False, True):
        layer = HydraLayer(
            4, 8, causal=causal, hidden_dropout=0.0, attn_dropout=0.0, hidden_act="gelu", eps=1e-12, local_window=1
        )
        assert layer.local is not None and layer.local.causal == causal
        assert not layer.local(torch.randn(1, 3, 4), torch.ones(1, 3, dtype=torch.bool)).any()
    common = dict(inner_size=8, hidden_dropout=0.0, attn_dropout=0.0, hidden_act="gelu", eps=1e-12, local_window=0)
    assert HydraLayer(4, causal=True, **common).local is None


def test_chosen_positions_equal_everywhere_then_gathered():
    from recbole_hydra.model.mixers.token_mixer import gather_positions

    torch.manual_seed(0)
    layer = (
        HydraLayer(
            4, 8, causal=False, hidden_dropout=0.0, attn_dropout=0.0, hidden_act="gelu", eps=1e-12, local_window=2
        )
        .double()
        .eval()
    )
    torch.nn.init.normal_(layer.local.conv.weight)
    x = torch.randn(3, 6, 4, dtype=torch.float64)
    mask = torch.arange(6) < torch.tensor([[6], [3], [1]])
    index = torch.tensor([[5, 0], [2, 1], [0, 0]])
    torch.testing.assert_close(layer(x, mask, index), gather_positions(layer(x, mask), index))
