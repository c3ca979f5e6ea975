"""Hydra self-attention: as many heads as features, cosine-similarity kernel.

    out_t = W_o( φ(q_t) ⊙ Σ_s φ(k_s) ⊙ v_s ),   φ(x) = x / ‖x‖

`forward` mixes a whole sequence (the sum runs over real s ≤ t in causal mode, over all real s
in bidirectional mode); `step` is the same computation for one new position of a causal
sequence, from the running sum S alone: the recurrent form a streaming recommender runs.
The mixing maths lives in `hydra_mix`. Pure torch: this module knows nothing of RecBole.
Shapes: B batch, N sequence length, D hidden size, M chosen positions per row.
"""

import torch

from recbole_hydra.model.mixers.common import TokenMixer
from recbole_hydra.model.mixers.hydra_mix import compiled_hydra_mix, hydra_mix_packed, hydra_mix_step


class HydraAttention(TokenMixer):
    """Hydra self-attention layer (projections + mixing + output projection).

    Args:
        hidden_size: D, the feature size of input and output.
        causal: if True, position t sees real positions s ≤ t; else all real positions.
        dropout: dropout on the mixed features, before the output projection.
        compile: fuse the mixing step with `torch.compile` (falls back to eager with a warning
            where no compiler is available).
    """

    name = "hydra"
    recurrent = True

    def __init__(self, hidden_size: int, causal: bool, dropout: float = 0.0, compile: bool = False):
        super().__init__(hidden_size, causal, dropout)
        self.compile = compile

    def mix(self, qkv, mask, index=None):
        """The mixing step alone, (B, N, 3D) → (B, N or M, D); a method so a benchmark can remove it."""
        mix = compiled_hydra_mix() if self.compile else hydra_mix_packed
        return mix(qkv, mask, self.causal, index)

    def initial_state(self, batch_size: int) -> torch.Tensor:
        """The empty running sum S of `step`, (B, D): in at least fp32, as `forward`'s cumsum."""
        return self._zeros(batch_size, self.hidden_size)

    def mix_step(self, qkv, state):
        """S (B, D) += φ(k) ⊙ v; out = φ(q) ⊙ S: O(D) per position, whatever t is."""
        return hydra_mix_step(qkv, state)  # (B, D), (B, D)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, compile={self.compile}"
