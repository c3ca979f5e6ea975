"""The chunked cross-entropy: the same value and gradients as torch's, without all logits at once."""

import pytest
import torch
import torch.nn.functional as F

from recbole_hydra.model.losses import cross_entropy


@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("max_logits", [1, 37, 250, 10**9])  # one row per chunk … a single chunk
def test_chunked_cross_entropy_equals_torchs(with_bias, max_logits):
    torch.manual_seed(0)
    hidden = torch.randn(23, 8, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(11, 8, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(11, dtype=torch.float64, requires_grad=True) if with_bias else None
    targets = torch.randint(1, 11, (23,))

    loss = cross_entropy(hidden, weight, targets, bias, max_logits=max_logits)
    grads = torch.autograd.grad(loss, [t for t in (hidden, weight, bias) if t is not None])
    logits = hidden @ weight.T + (0 if bias is None else bias)
    expected = F.cross_entropy(logits, targets)
    expected_grads = torch.autograd.grad(expected, [t for t in (hidden, weight, bias) if t is not None])
    torch.testing.assert_close(loss, expected)
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want)


def test_chunks_never_hold_all_logits(monkeypatch):
    """With max_logits = 2 rows' worth, no matrix product makes more than 2 × I logits."""
    biggest = []
    original = torch.Tensor.__matmul__

    def recording(a, b):
        out = original(a, b)
        if out.dim() == 2 and out.size(1) == 50:
            biggest.append(out.size(0))
        return out

    monkeypatch.setattr(torch.Tensor, "__matmul__", recording)
    hidden = torch.randn(40, 4, requires_grad=True)
    weight = torch.randn(50, 4, requires_grad=True)
    cross_entropy(hidden, weight, torch.randint(0, 50, (40,)), max_logits=100).backward()
    assert biggest and max(biggest) == 2


def test_far_apart_logits_give_torchs_loss_and_gradients():
    """Logits hundreds apart (a target's probability below float32's smallest): the loss is still
    exact (it comes from the maximum and log Σ exp, never from the target's probability)."""
    torch.manual_seed(1)
    hidden = (torch.randn(9, 4) * 100).requires_grad_()
    weight = torch.randn(30, 4, requires_grad=True)
    targets = torch.randint(1, 30, (9,))
    logits = hidden @ weight.T
    assert (logits.max(dim=1).values - logits.gather(1, targets[:, None]).squeeze(1)).max() > 200

    loss = cross_entropy(hidden, weight, targets, max_logits=60)
    grads = torch.autograd.grad(loss, [hidden, weight])
    expected = F.cross_entropy(hidden @ weight.T, targets)
    expected_grads = torch.autograd.grad(expected, [hidden, weight])
    assert torch.isfinite(loss)
    torch.testing.assert_close(loss, expected)
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want)
