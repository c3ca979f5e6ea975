"""HydraAttention against a naive O(N²) evaluation of the same formula, and its masking rules."""

import pytest
import torch

from recbole_hydra import HydraAttention
from recbole_hydra.model.mixers.hydra_mix import cosine_feature_map

B, N, D = 3, 7, 8


def naive_hydra(layer, x, mask):
    """out_t = W_o( φ(q_t) ⊙ Σ_{real s (≤ t if causal)} φ(k_s) ⊙ v_s ), one (t, s) pair at a time."""
    q, k, v = layer.qkv(x).chunk(3, dim=-1)
    q, k = cosine_feature_map(q), cosine_feature_map(k)
    out = torch.zeros_like(x)
    for b in range(x.size(0)):
        for t in range(x.size(1)):
            total = torch.zeros(x.size(-1), dtype=x.dtype)
            for s in range(x.size(1)):
                if mask[b, s] and (s <= t or not layer.causal):
                    total = total + k[b, s] * v[b, s]
            out[b, t] = q[b, t] * total
    return layer.out(out)


def right_padded_mask(lengths, n=N):
    return torch.arange(n).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)


@pytest.fixture
def inputs():
    torch.manual_seed(0)
    return torch.randn(B, N, D, dtype=torch.float64), right_padded_mask([7, 4, 1])


@pytest.mark.parametrize("causal", [True, False])
def test_matches_naive_reference_with_padding(inputs, causal):
    x, mask = inputs
    layer = HydraAttention(D, causal=causal).double()
    expected = naive_hydra(layer, x, mask)
    got = layer(x, mask)
    assert got.shape == (B, N, D)
    real = mask.unsqueeze(-1).expand_as(got)
    torch.testing.assert_close(got[real], expected[real])


def test_causal_output_ignores_the_future(inputs):
    x, mask = inputs
    layer = HydraAttention(D, causal=True).double()
    t = 3
    changed = x.clone()
    changed[:, t + 1 :] = torch.randn_like(changed[:, t + 1 :]) * 10
    torch.testing.assert_close(layer(changed, mask)[:, : t + 1], layer(x, mask)[:, : t + 1])


@pytest.mark.parametrize("causal", [True, False])
def test_padding_never_influences_real_positions(inputs, causal):
    x, mask = inputs
    layer = HydraAttention(D, causal=causal).double()
    changed = torch.where(mask.unsqueeze(-1), x, torch.randn_like(x) * 100)
    real = mask.unsqueeze(-1).expand_as(x)
    torch.testing.assert_close(layer(changed, mask)[real], layer(x, mask)[real])


def test_bidirectional_output_sees_later_items(inputs):
    x, mask = inputs
    layer = HydraAttention(D, causal=False).double()
    changed = x.clone()
    changed[0, -1] += 1.0  # the last item of the full-length row
    assert not torch.allclose(layer(changed, mask)[0, 0], layer(x, mask)[0, 0])


@pytest.mark.parametrize("causal", [True, False])
def test_zero_vectors_and_all_padding_stay_finite(causal):
    layer = HydraAttention(D, causal=causal)
    with torch.no_grad():  # q, k and v are exactly zero: φ must not divide by zero
        layer.qkv.weight.zero_()
        layer.qkv.bias.zero_()
    x = torch.zeros(2, N, D, requires_grad=True)
    mask = right_padded_mask([0, 3])  # one row has no real item at all
    out = layer(x, mask)
    out.sum().backward()
    assert torch.isfinite(out).all()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in layer.parameters())


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
    from recbole_hydra.model.mixers.hydra_mix import hydra_mix_packed, hydra_mix_packed_reference

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


# ----- the recurrent step -------------------------------------------------------------------


def test_step_replays_forward_position_by_position(inputs):
    """A causal sequence fed one position at a time through `step` gives `forward`'s outputs."""
    x, _ = inputs
    layer = HydraAttention(D, causal=True).double().eval()
    full = layer(x, torch.ones(B, N, dtype=torch.bool))  # (B, N, D)
    state = layer.initial_state(B)
    assert state.shape == (B, D) and not state.any()
    for t in range(N):
        out, state = layer.step(x[:, t], state)
        torch.testing.assert_close(out, full[:, t])


def test_layer_step_replays_layer_forward(inputs):
    from recbole_hydra.model import HydraLayer

    x, _ = inputs
    layer = HydraLayer(D, 2 * D, causal=True, hidden_dropout=0.0, attn_dropout=0.0, hidden_act="gelu", eps=1e-12)
    layer = layer.double().eval()
    full = layer(x, torch.ones(B, N, dtype=torch.bool))
    state = layer.initial_state(B)
    for t in range(N):
        out, state = layer.step(x[:, t], state)
        torch.testing.assert_close(out, full[:, t])


def test_step_keeps_its_sum_in_fp32_for_half_precision_weights():
    layer = HydraAttention(D, causal=True).to(torch.bfloat16)
    assert layer.initial_state(2).dtype == torch.float32


def test_bidirectional_attention_has_no_step(inputs):
    layer = HydraAttention(D, causal=False).double()
    with pytest.raises(ValueError, match="causal"):
        layer.step(inputs[0][:, 0], layer.initial_state(B))
