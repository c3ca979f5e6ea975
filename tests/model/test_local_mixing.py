"""The local term of bidirectional layers: a depthwise convolution over real neighbours."""

import torch

from recbole_hydra.model import HydraLayer
from recbole_hydra.model.local_mixing import LocalMixing


def test_local_mixing_is_the_weighted_sum_of_real_neighbours():
    torch.manual_seed(0)
    local = LocalMixing(4, window=2).double()
    torch.nn.init.normal_(local.conv.weight)
    x = torch.randn(2, 7, 4, dtype=torch.float64)
    mask = torch.arange(7) < torch.tensor([[7], [4]])  # second row: 3 padded positions
    weight = local.conv.weight[:, 0, :]  # (D, 2w + 1): offsets -2..2
    expected = torch.zeros_like(x)
    for b in range(2):
        for t in range(7):
            for j in range(-2, 3):
                if 0 <= t + j < 7 and mask[b, t + j]:
                    expected[b, t] += weight[:, j + 2] * x[b, t + j]
    torch.testing.assert_close(local(x, mask), expected)


def test_it_starts_at_zero_and_only_bidirectional_layers_have_it():
    assert not LocalMixing(4, window=1)(torch.randn(1, 3, 4), torch.ones(1, 3, dtype=torch.bool)).any()
    common = dict(inner_size=8, hidden_dropout=0.0, attn_dropout=0.0, hidden_act="gelu", eps=1e-12, local_window=1)
    assert HydraLayer(4, causal=False, **common).local is not None
    assert HydraLayer(4, causal=True, **common).local is None  # a causal position holds its own item


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
