"""Hydra self-attention: as many heads as features, cosine-similarity kernel.

    out_t = W_o( φ(q_t) ⊙ Σ_s φ(k_s) ⊙ v_s ),   φ(x) = x / ‖x‖

`forward` mixes a whole sequence (the sum runs over real s ≤ t in causal mode, over all real s
in bidirectional mode); `step` is the same computation for one new position of a causal
sequence, from the running sum S alone: the recurrent form a streaming recommender runs.
The mixing maths lives in `hydra_mix`. Pure torch: this module knows nothing of RecBole.
Shapes: B batch, N sequence length, D hidden size, M chosen positions per row.
"""

import torch
from torch import nn

from recbole_hydra.model.hydra_mix import compiled_hydra_mix, hydra_mix_packed, hydra_mix_step


class HydraAttention(nn.Module):
    """Hydra self-attention layer (projections + mixing + output projection).

    Args:
        hidden_size: D, the feature size of input and output.
        causal: if True, position t sees real positions s ≤ t; else all real positions.
        dropout: dropout on the mixed features, before the output projection.
        compile: fuse the mixing step with `torch.compile` (falls back to eager with a warning
            where no compiler is available).
    """

    def __init__(self, hidden_size: int, causal: bool, dropout: float = 0.0, compile: bool = False):
        super().__init__()
        if hidden_size <= 0:
            raise ValueError(f"hidden_size must be a positive int, got {hidden_size!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.hidden_size = hidden_size
        self.causal = causal
        self.compile = compile
        self.qkv = nn.Linear(hidden_size, 3 * hidden_size)  # one matmul for q, k and v
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, hidden_size)  # W_o

    def forward(self, x: torch.Tensor, mask: torch.Tensor, index: torch.Tensor = None) -> torch.Tensor:
        """x: (B, N, D); mask: (B, N) bool, True where a real item stands. Returns (B, N, D).

        With `index` (B, M), only the outputs at those positions are computed, (B, M, D): every
        position still contributes its key and value, but mixing and W_o run M times, not N.
        Causal mode takes one position per row (M = 1).
        """
        qkv = self.qkv(x)  # (B, N, 3D): q, k and v side by side
        mixed = self.mix(qkv, mask, index)  # (B, N or M, D)
        return self.out(self.dropout(mixed))

    def mix(self, qkv, mask, index=None):
        """The mixing step alone, (B, N, 3D) → (B, N or M, D); a method so a benchmark can remove it."""
        mix = compiled_hydra_mix() if self.compile else hydra_mix_packed
        return mix(qkv, mask, self.causal, index)

    def initial_state(self, batch_size: int) -> torch.Tensor:
        """The empty running sum S of `step`, (B, D): in at least fp32, as `forward`'s cumsum."""
        weight = self.qkv.weight
        dtype = torch.promote_types(weight.dtype, torch.float32)
        return torch.zeros(batch_size, self.hidden_size, dtype=dtype, device=weight.device)

    def step(self, x: torch.Tensor, state: torch.Tensor) -> tuple:
        """Causal attention at one new position: x (B, D) and S (B, D) → (output (B, D), new S).

        Equals `forward` at position t of a causal sequence when S holds positions 0..t-1
        (`initial_state` for t = 0): O(D²) per position, whatever t is.
        """
        if not self.causal:
            raise ValueError("step needs causal attention: a bidirectional position sees later ones")
        mixed, state = hydra_mix_step(self.qkv(x), state)  # (B, D), (B, D)
        return self.out(self.dropout(mixed)), state

    def extra_repr(self) -> str:
        return f"hidden_size={self.hidden_size}, causal={self.causal}, compile={self.compile}"
