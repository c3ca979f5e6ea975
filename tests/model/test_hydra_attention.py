"""What only Hydra attention has: its constructor checks and the hand-written backward of its mixing step.

The invariants every token mixer shares (the formula against a naive evaluation, masks, causality,
zero vectors, bf16, the recurrent step) are tested for all of them in test_mixers.py.
"""

import pytest
import torch

from recbole_hydra import HydraAttention

B, N, D = 3, 7, 8


def right_padded_mask(lengths, n=N):
    return torch.arange(n).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)


def test_constructor_rejects_bad_arguments():
    with pytest.raises(ValueError, match="hidden_size"):
        HydraAttention(0, causal=True)
    with pytest.raises(ValueError, match="dropout"):
        HydraAttention(8, causal=True, dropout=1.0)


@pytest.mark.parametrize(
    "causal, index",
    [(True, None), (False, None), (True, [[6], [3], [0]]), (False, [[0, 2, 2], [1, 0, 3], [0, 0, 0]])],
    ids=["causal", "bidirectional", "causal-at-targets", "bidirectional-at-repeated-positions"],
)
def test_hand_written_backward_matches_autograd_of_the_formula(causal, index):
    """The fast mixing step's own backward against autograd through the plain formula, with padding,
    zero vectors, a norm below eps, and outputs at chosen (even repeated) positions only."""
    from recbole_hydra.model.mixers.hydra_kernels import hydra_mix_packed, hydra_mix_packed_reference

    torch.manual_seed(0)
    index = None if index is None else torch.tensor(index)
    qkv = torch.randn(B, N, 3 * D, dtype=torch.float64)
    qkv[0, 1, :D] = 0.0  # a zero query: φ(0) = 0 on the clamped branch of the norm
    qkv[1, 2, D : 2 * D] = 0.0  # a zero key
    mask = right_padded_mask([7, 4, 1])
    qkv.requires_grad_()
    assert torch.autograd.gradcheck(lambda x: hydra_mix_packed(x, mask, causal, index), (qkv,))
    with torch.no_grad():  # below eps, φ is x / eps, not x / ‖x‖ (too close to the kink for gradcheck)
        qkv[2, 0, D : 2 * D] *= 1e-9
    ours = hydra_mix_packed(qkv, mask, causal, index)
    reference = hydra_mix_packed_reference(qkv, mask, causal, index)
    torch.testing.assert_close(ours, reference)
    grad_out = torch.randn_like(ours)
    torch.testing.assert_close(
        torch.autograd.grad(ours, qkv, grad_out)[0], torch.autograd.grad(reference, qkv, grad_out)[0]
    )
