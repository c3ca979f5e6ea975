"""The sum every multi-head linear mixer is built on, Σ_s (q_t · k_s) v_s, in linear time.

Written as q_tᵀ S with S = Σ_s k_s v_sᵀ, a d × e matrix per head, it never forms the N × N
attention matrix: a bidirectional row needs one S; a causal sequence needs the prefix sums
S_t = Σ_{s≤t} k_s v_sᵀ, O(N·H·d·e) memory; one new position needs S_{t-1} alone.
The callers apply their feature maps, zero the keys of padded positions (so padding adds
nothing to any S) and pass tensors in at least fp32. Pure torch.
Shapes: B batch, N sequence length, H heads, d key features, e value features, M query positions.
"""

import torch


def kernel_mix(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool) -> torch.Tensor:
    """Σ_s (q_t · k_s) v_s over s ≤ t (causal) or all s: q (B, M, H, d), k (B, N, H, d), v (B, N, H, e) → (B, M, H, e).

    Causal mode needs a query at every position (M = N).
    """
    if causal:
        prefix = torch.einsum("bnhi,bnhj->bnhij", k, v).cumsum(dim=1)  # (B, N, H, d, e): S_t
        return torch.einsum("bnhi,bnhij->bnhj", q, prefix)
    total = torch.einsum("bnhi,bnhj->bhij", k, v)  # (B, H, d, e): one S per row
    return torch.einsum("bmhi,bhij->bmhj", q, total)


def kernel_step(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, total: torch.Tensor) -> tuple:
    """One new position: S_t = S_{t-1} + k_t v_tᵀ and q_tᵀ S_t.

    q, k (B, H, d), v (B, H, e), S_{t-1} (B, H, d, e) → (q_tᵀ S_t (B, H, e), S_t).
    """
    total = total + torch.einsum("bhi,bhj->bhij", k, v)
    return torch.einsum("bhi,bhij->bhj", q, total), total
