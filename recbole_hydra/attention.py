"""Hydra attention: as many heads as features, cosine-similarity kernel.

    out_t = W_o( φ(q_t) ⊙ Σ_s φ(k_s) ⊙ v_s ),   φ(x) = x / ‖x‖

With one head per feature the softmax-free kernel factorises, so the sum over s is a
D-vector per sequence (bidirectional) or a running D-vector per position (causal): the
cost is O(N·D) in time and memory, and no N×N tensor is ever built.

Pure torch on purpose: this module knows nothing of RecBole.
Shapes: B batch, N sequence length, D hidden size.
"""

import torch
import torch.nn.functional as F
from torch import nn

# φ(0) must be 0, not NaN: F.normalize divides by max(‖x‖, eps).
_NORM_EPS = 1e-6


def cosine_feature_map(x: torch.Tensor) -> torch.Tensor:
    """φ(x) = x / ‖x‖ over the last dim, safe at zero (returns 0 there)."""
    return F.normalize(x, p=2.0, dim=-1, eps=_NORM_EPS)


def hydra_mix(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor, causal: bool
) -> torch.Tensor:
    """The mixing step alone: φ(q_t) ⊙ Σ_s φ(k_s) ⊙ v_s, over real s (≤ t if causal).

    q, k, v: (B, N, D); mask: (B, N) bool, True at real items. Returns (B, N, D).
    Padded positions contribute nothing; their own outputs are defined but meaningless.
    """
    kv = cosine_feature_map(k) * v  # (B, N, D)
    kv = kv * mask.unsqueeze(-1).to(kv.dtype)  # padding adds nothing to any sum
    if causal:
        # Accumulate in at least fp32: a long running sum loses low bits fast in half precision.
        acc_dtype = torch.promote_types(kv.dtype, torch.float32)
        summary = torch.cumsum(kv, dim=1, dtype=acc_dtype).to(kv.dtype)  # (B, N, D)
    else:
        summary = kv.sum(dim=1, keepdim=True)  # (B, 1, D), broadcast over positions
    return cosine_feature_map(q) * summary  # (B, N, D)


class HydraAttention(nn.Module):
    """Hydra self-attention layer (projections + mixing + output projection).

    Args:
        hidden_size: D, the feature size of input and output.
        causal: if True, position t sees real positions s ≤ t; else all real positions.
        dropout: dropout on the mixed features, before the output projection.
    """

    def __init__(self, hidden_size: int, causal: bool, dropout: float = 0.0):
        super().__init__()
        if hidden_size <= 0:
            raise ValueError(f"hidden_size must be a positive int, got {hidden_size!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.hidden_size = hidden_size
        self.causal = causal
        self.qkv = nn.Linear(hidden_size, 3 * hidden_size)  # one matmul for q, k and v
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, hidden_size)  # W_o

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x: (B, N, D); mask: (B, N) bool, True where a real item stands. Returns (B, N, D)."""
        q, k, v = self.qkv(x).chunk(3, dim=-1)  # 3 × (B, N, D)
        mixed = hydra_mix(q, k, v, mask, self.causal)  # (B, N, D)
        return self.out(self.dropout(mixed))

    def extra_repr(self) -> str:
        return f"hidden_size={self.hidden_size}, causal={self.causal}"
