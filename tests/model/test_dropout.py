"""The CPU dropout: torch's distribution (keep with probability 1 − p, scaled by 1 / (1 − p)), its
gradient through the same mask, and torch's own dropout wherever it does not apply."""

import pytest
import torch

from recbole_hydra.model.dropout import Dropout


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_keeps_each_value_with_probability_one_minus_p(p):
    torch.manual_seed(0)
    x = torch.ones(400_000, requires_grad=True)
    out = Dropout(p).train()(x)
    kept = out != 0
    assert kept.float().mean().item() == pytest.approx(1 - p, abs=0.005)
    torch.testing.assert_close(out[kept], torch.full((int(kept.sum()),), 1 / (1 - p)))
    out.sum().backward()  # the gradient goes through the same mask and scale
    torch.testing.assert_close(x.grad, out.detach())


def test_eval_mode_and_p_zero_are_the_identity():
    x = torch.randn(50, 8)
    assert torch.equal(Dropout(0.5).eval()(x), x)
    assert torch.equal(Dropout(0.0).train()(x), x)


def test_each_call_draws_a_new_mask_and_the_seed_repeats_it():
    layer, x = Dropout(0.5).train(), torch.ones(1000)
    torch.manual_seed(1)
    first, second = layer(x), layer(x)
    torch.manual_seed(1)
    assert not torch.equal(first, second) and torch.equal(layer(x), first)
