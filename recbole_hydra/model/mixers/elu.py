"""The linear transformer of Katharopoulos et al. 2020 ("Transformers are RNNs"), per head:

    out_t = φ(q_t)ᵀ S_t / (φ(q_t)ᵀ z_t + ε),   S_t = Σ_s φ(k_s) v_sᵀ,   z_t = Σ_s φ(k_s),   φ(x) = elu(x) + 1

over the real positions s ≤ t (causal) or all real s (bidirectional). φ > 0, so this is
softmax attention with exp(q·k) replaced by φ(q)·φ(k): a weighted mean of the values.
S and z accumulate together, as one d × (d + 1) matrix per head: the outer product of φ(k_s)
with [v_s, 1] (its last column is z). Pure torch.
Shapes: B batch, N sequence length, D hidden size, H heads, d = D / H, M chosen positions per row.
"""

import torch
import torch.nn.functional as F

from recbole_hydra.model.mixers.linear_attention import LinearMixer, kernel_mix, kernel_step

EPS = 1e-6  # keeps the denominator above 0 where no key is visible (a row of padding only)


def elu_feature_map(x: torch.Tensor) -> torch.Tensor:
    """φ(x) = elu(x) + 1 > 0."""
    return F.elu(x) + 1.0


def _with_ones(v: torch.Tensor) -> torch.Tensor:
    """[v, 1] (..., d + 1): the extra column makes the same sum accumulate z next to S."""
    return torch.cat([v, torch.ones_like(v[..., :1])], dim=-1)


def _divide(mixed: torch.Tensor) -> torch.Tensor:
    """[φ(q)ᵀS, φ(q)ᵀz] (..., d + 1) → φ(q)ᵀS / (φ(q)ᵀz + ε) (..., d)."""
    return mixed[..., :-1] / (mixed[..., -1:] + EPS)


class EluAttention(LinearMixer):
    """Multi-head linear attention with φ(x) = elu(x) + 1 (see the module docstring).

    Args: as MultiHeadMixer (hidden_size, causal, dropout, n_heads). State: [S | z] per head, (B, H, d, d + 1).
    """

    name = "elu"

    def mix_heads(self, q, k, v, real, causal):
        keys = elu_feature_map(k) * real  # padding adds nothing to S or z
        return _divide(kernel_mix(elu_feature_map(q), keys, _with_ones(v), causal))  # from (B, N|M, H, d + 1)

    def step_heads(self, q, k, v, state):
        """[S | z] += φ(k) [v, 1]ᵀ; out = φ(q)ᵀS / (φ(q)ᵀz + ε)."""
        mixed, state = kernel_step(elu_feature_map(q), elu_feature_map(k), _with_ones(v), state)  # (B, H, d + 1)
        return _divide(mixed), state
