"""LinRec's L2-normalised linear attention (Liu et al., SIGIR'23), per head, made causal and mask-aware.

With Q, K (N × d) the elu-activated queries and keys of one head and V its values (N × d):

    out = ρ_row(Q) (ρ_col(K)ᵀ V)

ρ_row divides each row of Q (one position, over its d features) by its L2 norm; ρ_col divides
each column of K (one feature, over the N positions) by its L2 norm. No softmax. Position by
position, with n_j = ‖K[:, j]‖ the norm of key feature j over the visible positions:

    out_t = Σ_j (q̂_{t,j} / n_j) Σ_s k_{s,j} v_s,   q̂_t = elu(q_t) / ‖elu(q_t)‖,   k_s = elu(k_s)

This is the paper's formula as we read it (Q row-wise, K column-wise, as in the "efficient
attention" it builds on). The authors' public code (layers.py) differs: it normalises each key
over its features too (its key tensor is stored transposed, d × N), divides by √d, and masks
nothing, so padded positions feed every output. Ours:
- Padding: padded keys are zeroed before anything is summed, so they add nothing to Σ_s k_s v_sᵀ
  nor to the column norms, in both modes.
- Causality: the column norm is a running one. Position t divides by n_{t,j} = (Σ_{s≤t} k_{s,j}²)^½
  over the real s ≤ t, the norm of K's columns as far as position t has seen them, so no
  output looks at a later key. So the causal form is not the bidirectional one under a causal
  mask: each t normalises its own prefix of K. In bidirectional mode n_j runs over all real
  positions: the paper's formula on the real (unpadded) rows.
- Norms are clamped at 1e-6, so zero vectors give 0, not NaN.

The running sum of k_s v_sᵀ and the running sum of squares k_s² are the recurrent state.
Pure torch. Shapes: B batch, N sequence length, D hidden size, H heads, d = D / H, M chosen positions.
"""

import torch
import torch.nn.functional as F

from recbole_hydra.model.mixers.linear_attention import LinearMixer, kernel_mix, kernel_step

EPS = 1e-6  # the smallest norm divided by: a zero row or column maps to 0


def _column_norm(square_sum: torch.Tensor) -> torch.Tensor:
    """(Σ_s k_s²)^½, at least EPS; clamped before the root, whose gradient is infinite at 0."""
    return square_sum.clamp_min(EPS * EPS).sqrt()


class LinRecAttention(LinearMixer):
    """Multi-head LinRec attention (see the module docstring).

    Args: as MultiHeadMixer (hidden_size, causal, dropout, n_heads). State: [Σ k vᵀ | Σ k²] per
    head, (B, H, d, d + 1): the sum of outer products, then the column sums of squares.
    """

    name = "linrec"

    def mix_heads(self, q, k, v, real, causal):
        queries = F.normalize(F.elu(q), dim=-1, eps=EPS)  # ρ_row: each query over its head's features
        keys = F.elu(k) * real  # padding adds nothing to sums or norms
        squares = keys.square()  # (B, N, H, d)
        square_sum = squares.cumsum(dim=1) if causal else squares.sum(dim=1, keepdim=True)  # (B, N|1, H, d)
        # ρ_col: k_{s,j} / n_j, moved onto the query side, where n (of position t when causal) is known.
        return kernel_mix(queries / _column_norm(square_sum), keys, v, causal)  # (B, N|M, H, d)

    def step_heads(self, q, k, v, state):
        """Σ k vᵀ += k_t v_tᵀ and Σ k² += k_t²; out = (q̂_t / n_t)ᵀ Σ k vᵀ."""
        keys = F.elu(k)
        square_sum = state[..., -1] + keys.square()  # (B, H, d)
        queries = F.normalize(F.elu(q), dim=-1, eps=EPS) / _column_norm(square_sum)
        mixed, outer_sum = kernel_step(queries, keys, v, state[..., :-1])  # (B, H, d), (B, H, d, d)
        return mixed, torch.cat([outer_sum, square_sum.unsqueeze(-1)], dim=-1)
