"""Hydra self-attention: as many heads as features, cosine-similarity kernel.

    out_t = W_o( φ(q_t) ⊙ Σ_s φ(k_s) ⊙ v_s ),   φ(x) = x / ‖x‖

`forward` mixes a whole sequence (the sum runs over real s ≤ t in causal mode, over all real s
in bidirectional mode); `step` is the same computation for one new position of a causal
sequence, from the running sum S alone: the recurrent form a streaming recommender runs.
The mixing maths lives in `hydra_kernels`. Pure torch: this module knows nothing of RecBole.
Shapes: B batch, N sequence length, D hidden size, M chosen positions per row.
"""

import torch

from recbole_hydra.model.mixers.hydra_kernels import compiled_hydra_mix, hydra_mix_packed, hydra_mix_step
from recbole_hydra.model.mixers.token_mixer import TokenMixer, visible_from


class HydraAttention(TokenMixer):
    """Hydra self-attention layer (projections + mixing + output projection).

    Args:
        hidden_size: D, the feature size of input and output.
        causal: if True, position t sees real positions s ≤ t; else all real positions.
        dropout: dropout on the mixed features, before the output projection.
        compile: fuse the mixing step with `torch.compile` (falls back to eager with a warning
            where no compiler is available).
        mean: divide each output's sum by the number of real positions it sums over: a mean of
            φ(k_s) ⊙ v_s, whose size does not grow with the history (a causal sum over t items
            grows like t, and outweighs the residual, the current item, at long positions).
    """

    name = "hydra"
    recurrent = True

    def __init__(self, hidden_size: int, causal: bool, dropout: float = 0.0, compile: bool = False, mean=False):
        super().__init__(hidden_size, causal, dropout)
        self.compile = compile
        self.mean = mean

    def mix(self, qkv, mask, index=None):
        """The mixing step alone, (B, N, 3D) → (B, N or M, D); a method so a benchmark can remove it."""
        mix = compiled_hydra_mix() if self.compile else hydra_mix_packed
        mixed = mix(qkv, mask, self.causal, index)
        return (mixed / visible_counts(mask, self.causal, index)).to(mixed.dtype) if self.mean else mixed

    def initial_state(self, batch_size: int) -> torch.Tensor:
        """The empty state of `step`, in at least fp32: the running sum S (B, D), and with `mean`
        the number of items summed in one more column, (B, D + 1)."""
        return self._zeros(batch_size, self.hidden_size + int(self.mean))

    def mix_step(self, qkv, state):
        """S (B, D) += φ(k) ⊙ v; out = φ(q) ⊙ S (divided by the count with `mean`): O(D) per position."""
        if not self.mean:
            return hydra_mix_step(qkv, state)  # (B, D), (B, D)
        mixed, summary = hydra_mix_step(qkv, state[:, :-1])
        count = state[:, -1:] + 1  # (B, 1)
        return (mixed / count).to(mixed.dtype), torch.cat([summary, count], dim=1)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, compile={self.compile}, mean={self.mean}"


def visible_counts(mask: torch.Tensor, causal: bool, index: torch.Tensor = None) -> torch.Tensor:
    """How many real positions each output sums over, at least 1: (B, N or M, 1) (or (B, 1, 1))."""
    mask, causal = visible_from(mask, causal, index)
    real = mask.to(torch.float32)  # (B, N)
    counts = real.cumsum(dim=1) if causal else real.sum(dim=1, keepdim=True)  # (B, N) or (B, 1)
    return counts.clamp_min(1).unsqueeze(-1)
