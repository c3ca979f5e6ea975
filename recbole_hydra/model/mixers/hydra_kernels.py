"""Hydra's mixing step, φ(q_t) ⊙ Σ_s φ(k_s) ⊙ v_s with φ(x) = x / ‖x‖, as tensor functions.

With one head per feature the softmax-free kernel factorises, so the sum over s is a
D-vector per sequence (bidirectional) or a running D-vector per position (causal): the
cost is O(N·D) in time and memory, and no N×N tensor is ever built.

Three forms of one formula: `hydra_mix_reference` (plain torch, autograd: the definition),
`hydra_mix_packed` (a hand-written backward, the default), and `compiled_hydra_mix` (the
reference through torch.compile). Pure torch: this module knows nothing of RecBole.
Shapes: B batch, N sequence length, D hidden size, M chosen positions per row.
"""

import logging

import torch
import torch.nn.functional as F

from recbole_hydra.model.mixers.token_mixer import accumulation_dtype, gather_positions, visible_from

logger = logging.getLogger(__name__)

# φ(0) must be 0, not NaN: F.normalize divides by max(‖x‖, eps).
_NORM_EPS = 1e-6


def cosine_feature_map(x: torch.Tensor) -> torch.Tensor:
    """φ(x) = x / ‖x‖ over the last dim, safe at zero (returns 0 there)."""
    return F.normalize(x, p=2.0, dim=-1, eps=_NORM_EPS)


def hydra_mix_reference(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor, causal: bool
) -> torch.Tensor:
    """The mixing step written plainly, differentiated by autograd: the definition `hydra_mix`
    must match, and the source `torch.compile` fuses. Same arguments and result as `hydra_mix`."""
    kv = cosine_feature_map(k) * v  # (B, N, D)
    kv = kv * mask.unsqueeze(-1).to(kv.dtype)  # padding adds nothing to any sum
    if causal:
        summary = torch.cumsum(kv, dim=1, dtype=accumulation_dtype(kv.dtype)).to(kv.dtype)  # (B, N, D)
    else:
        summary = kv.sum(dim=1, keepdim=True)  # (B, 1, D), broadcast over positions
    return cosine_feature_map(q) * summary  # (B, N or M, D)


def _inverse_norm(x: torch.Tensor) -> tuple:
    """(1 / max(‖x‖, eps), ‖x‖ ≥ eps) over the last dim, both (..., 1): φ(x) = x · first."""
    norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True)
    return norm.clamp_min(_NORM_EPS).reciprocal_(), norm >= _NORM_EPS


def _normalize_backward_(grad: torch.Tensor, x: torch.Tensor, scale: torch.Tensor, unclamped: torch.Tensor):
    """In place: `grad` (…, D) through y = x · scale, scale = 1/‖x‖ (or a constant where clamped).

    d/dx (x/‖x‖)ᵀ g = scale·g − scale³ (x·g) x; the second term vanishes where ‖x‖ was clamped.
    """
    dot = (x * grad).sum(dim=-1, keepdim=True)  # (…, 1)
    coef = scale.pow(3).mul_(dot).mul_(unclamped).neg_()  # (…, 1)
    return grad.mul_(scale).addcmul_(x, coef)


class _HydraMix(torch.autograd.Function):
    """The mixing step on the packed projection [q | k | v], with a hand-written backward.

    Autograd's version of the formula makes ~3× more passes over (B, N, D) tensors (F.normalize's
    backward, cumsum's flip-cumsum-flip, temporaries), and splitting qkv into three chunks costs
    one more copy in the backward (gluing the three gradients together). Here the forward makes
    ~7 passes, the backward writes the gradients of q, k and v straight into one (B, N, 3D)
    tensor, everything runs in at least fp32, and only qkv (alive anyway) and the running sum
    are kept for the backward.
    """

    @staticmethod
    def forward(ctx, qkv, mask, causal, index):
        in_dtype = qkv.dtype
        qkv = qkv.to(accumulation_dtype(qkv.dtype))  # bf16/fp16 in, fp32 maths
        q, k, v = qkv.chunk(3, dim=-1)  # 3 × (B, N, D) views
        if index is not None:
            q = gather_positions(q, index)  # (B, M, D)
        inv_q, unclamped_q = _inverse_norm(q)  # (B, N|M, 1)
        inv_k, unclamped_k = _inverse_norm(k)  # (B, N, 1)
        scale_k = inv_k * mask.unsqueeze(-1)  # (B, N, 1): padding contributes nothing
        kv = (k * scale_k).mul_(v)  # (B, N, D): φ(k_s) ⊙ v_s over real s
        summary = kv.cumsum_(dim=1) if causal else kv.sum(dim=1, keepdim=True)  # (B, N|1, D)
        out = (q * inv_q).mul_(summary)  # (B, N|M, D)
        ctx.causal, ctx.in_dtype = causal, in_dtype
        ctx.save_for_backward(qkv, q, summary, inv_q, unclamped_q, scale_k, unclamped_k, index)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        qkv, q, summary, inv_q, unclamped_q, scale_k, unclamped_k, index = ctx.saved_tensors
        _, k, v = qkv.chunk(3, dim=-1)
        grad_out = grad_out.to(qkv.dtype)
        grad_qkv = torch.empty_like(qkv)  # (B, N, 3D), filled slice by slice
        grad_q_slot, grad_k_slot, grad_v_slot = grad_qkv.chunk(3, dim=-1)

        # out = φ(q) ⊙ S  →  dφ(q) = g ⊙ S,  dS = g ⊙ φ(q)
        if index is None:
            _normalize_backward_(torch.mul(grad_out, summary, out=grad_q_slot), q, inv_q, unclamped_q)
        else:  # only M query positions: scatter their gradients, duplicates add up
            grad_q = _normalize_backward_(grad_out * summary, q, inv_q, unclamped_q)  # (B, M, D)
            grad_q_slot.zero_().scatter_add_(1, index.unsqueeze(-1).expand_as(grad_q), grad_q)
        grad_summary = (grad_out * q).mul_(inv_q)  # (B, N|M, D)

        # kv_s = φ(k_s) ⊙ v_s feeds S; dkv lands in the k slot first, then becomes dk there.
        if ctx.causal:
            # S_t = Σ_{s≤t} kv_s  →  dkv_s = Σ_{t≥s} dS_t = total − (prefix sum up to s−1)
            total = grad_summary.sum(dim=1, keepdim=True)  # (B, 1, D)
            prefix = grad_summary.cumsum_(dim=1)  # (B, N, D), in place
            grad_k_slot[:, :1] = total
            torch.sub(total, prefix[:, :-1], out=grad_k_slot[:, 1:])
            grad_kv = grad_k_slot
        else:
            grad_kv = grad_summary.sum(dim=1, keepdim=True)  # (B, 1, D): S is one sum
        torch.mul(grad_kv, k, out=grad_v_slot).mul_(scale_k)  # dv = dkv ⊙ φ(k)
        if ctx.causal:
            grad_k_slot.mul_(v)
        else:
            torch.mul(v, grad_kv, out=grad_k_slot)
        _normalize_backward_(grad_k_slot, k, scale_k, unclamped_k)  # dk
        return grad_qkv.to(ctx.in_dtype), None, None, None


def hydra_mix_packed(qkv: torch.Tensor, mask: torch.Tensor, causal: bool, index: torch.Tensor = None) -> torch.Tensor:
    """The mixing step on qkv = [q | k | v] (B, N, 3D): (B, N, D), or (B, M, D) at `index` (B, M) only.

    mask: (B, N) bool, True at real items. Returns qkv's dtype; sums and norms run in at least
    fp32, so bf16/fp16 inputs stay finite over long histories.
    """
    mask, causal = visible_from(mask, causal, index)
    return _HydraMix.apply(qkv, mask, causal, index).to(qkv.dtype)


def hydra_mix_packed_reference(qkv, mask, causal, index=None):
    """`hydra_mix_packed` through `hydra_mix_reference` (autograd): the source torch.compile fuses."""
    q, k, v = qkv.chunk(3, dim=-1)
    if index is not None:
        q = gather_positions(q, index)
    mask, causal = visible_from(mask, causal, index)
    return hydra_mix_reference(q, k, v, mask, causal)


def hydra_mix(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor, causal: bool) -> torch.Tensor:
    """The mixing step alone: φ(q_t) ⊙ Σ_s φ(k_s) ⊙ v_s, over real s (≤ t if causal).

    q, k, v: (B, N, D); mask: (B, N) bool, True at real items. Returns (B, N, D), in q's dtype.
    Padded positions contribute nothing; their own outputs are defined but meaningless.
    HydraAttention calls `hydra_mix_packed` on its projection directly (no concatenation).
    """
    return hydra_mix_packed(torch.cat([q, k, v], dim=-1), mask, causal)


class CompiledOrEager:
    """`torch.compile(source)`, or `fallback` where compiling is impossible.

    torch.compile needs a working compiler toolchain (a C++ compiler on CPU, Triton on GPU) and a
    supported Python; where one is missing it fails either when created or on the first call. Then
    we log one warning and run `fallback` (same maths, eager) from there on. A genuine error in the
    inputs is not hidden: the eager call raises it again.
    """

    def __init__(self, source, fallback):
        self.fallback = fallback
        self.compiled = None
        try:
            self.compiled = torch.compile(source)
        except Exception as error:  # e.g. "torch.compile is not supported on Python 3.x"
            self._give_up(error)

    def _give_up(self, error):
        logger.warning(
            "torch.compile is unavailable here (%s: %s); Hydra attention runs eagerly instead.",
            type(error).__name__,
            str(error).strip().splitlines()[0] if str(error).strip() else "",
        )
        self.compiled = None

    def __call__(self, *args):
        if self.compiled is not None:
            try:
                return self.compiled(*args)
            except Exception as error:  # compiler missing or broken: see the class docstring
                self._give_up(error)
        return self.fallback(*args)


_compiled_mix = None


def compiled_hydra_mix() -> CompiledOrEager:
    """One shared compiled mixing step: every layer reuses its compiled graphs and its fallback."""
    global _compiled_mix
    if _compiled_mix is None:
        # Inductor fuses the plain formula (norms, products, running sum) into a few kernels.
        _compiled_mix = CompiledOrEager(hydra_mix_packed_reference, fallback=hydra_mix_packed)
    return _compiled_mix


def hydra_mix_step(qkv: torch.Tensor, summary: torch.Tensor) -> tuple:
    """One new position of the causal mixing step: (B, 3D) and the running sum S (B, D).

    S_t = S_{t-1} + φ(k_t) ⊙ v_t and out_t = φ(q_t) ⊙ S_t: what `hydra_mix_packed` computes at
    position t in causal mode, in O(D) and from S alone. S stays in its own dtype (at least
    fp32, as the cumulative sum accumulates). Returns (out (B, D) in qkv's dtype, new S).
    """
    q, k, v = qkv.chunk(3, dim=-1)  # 3 × (B, D)
    summary = summary + cosine_feature_map(k) * v  # promoted to S's dtype
    return cosine_feature_map(q) * summary.to(qkv.dtype), summary
