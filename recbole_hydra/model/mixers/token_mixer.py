"""What every token mixer shares: the projections around its mixing rule, and the mask and shape helpers.

A token mixer is the one part of a HydraLayer that lets positions see each other. Each one is

    out = W_o( dropout( mix(W_qkv x) ) )

with its own `mix`; the layer, the model, the loss and the training around it are the same for all.
A recurrent mixer also has `step`: the same output for one new position of a causal sequence,
from a running state. The state is one tensor per layer, batch first, kept in at least fp32.

Pure torch: this module knows nothing of RecBole.
Shapes: B batch, N sequence length, D hidden size, H heads, d = D / H, M chosen positions per row.
"""

import torch
from torch import nn

from recbole_hydra.model.dropout import Dropout


def gather_positions(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x: (B, N, D); index: (B, M) positions → (B, M, D)."""
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.size(-1)))


def on_real_positions(per_position, mask: torch.Tensor, *tensors: torch.Tensor) -> torch.Tensor:
    """per_position(*rows) at the real positions of (B, N, ·) tensors only; zeros at the padding.

    Every mixer masks padded keys and values, and the losses read real positions only, so what a
    layer computes at a padding position is never read. Windows of sparse histories are mostly
    padding (43% of the slots on ml-1m at N = 200, more on short histories), so the per-position
    parts of a layer (projections, norms, feed-forward) run on the (T, ·) real rows instead: a
    training step took 0.84× on ml-1m (56% real slots) and 0.60× on toys' bidirectional windows
    (12%) (docs/results/real-positions-ab). On CPUs only: elsewhere `nonzero` makes the host wait
    for the device, which this was not measured against, so other devices run every position.
    """
    if tensors[0].device.type != "cpu" or bool(mask.all()):
        return per_position(*tensors)
    batch, length = mask.shape
    real = mask.reshape(-1).nonzero().squeeze(1)  # (T,) flat indices of the real positions
    rows = per_position(*(tensor.flatten(0, 1).index_select(0, real) for tensor in tensors))  # (T, ·)
    return rows.new_zeros(batch * length, rows.size(-1)).index_copy(0, real, rows).view(batch, length, -1)


def visible_from(mask: torch.Tensor, causal: bool, index: torch.Tensor = None) -> tuple:
    """(mask, causal) for outputs at `index` (B, M) only, or unchanged when index is None.

    A causal output at position t mixes the real positions s ≤ t: the same as a bidirectional
    output under the mask `real and s ≤ t`. So causal mode takes one position per row.
    """
    if index is None:
        return mask, causal
    if causal:
        if index.size(1) != 1:
            raise ValueError(f"causal attention at chosen positions takes one per row, got {index.size(1)}")
        mask = mask & (torch.arange(mask.size(1), device=mask.device) <= index)  # (B, N)
    return mask, False


def accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """At least fp32: a running sum loses its low bits fast in half precision."""
    return torch.promote_types(dtype, torch.float32)


class TokenMixer(nn.Module):
    """Projections (q, k, v in one matmul; W_o) around a mixing rule that subclasses define.

    Args:
        hidden_size: D, the feature size of input and output.
        causal: if True, position t sees real positions s ≤ t; else all real positions.
        dropout: dropout on the mixed features, before the output projection (the same place for
            every mixer, so that only the mixing rule differs between them).
    """

    name = ""  # the value of the `attention` setting that selects the mixer
    recurrent = False  # whether `step` exists

    def __init__(self, hidden_size: int, causal: bool, dropout: float = 0.0):
        super().__init__()
        if hidden_size <= 0:
            raise ValueError(f"hidden_size must be a positive int, got {hidden_size!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.hidden_size = hidden_size
        self.causal = causal
        self.qkv = nn.Linear(hidden_size, 3 * hidden_size)  # one matmul for q, k and v
        self.dropout = Dropout(dropout)
        self.out = nn.Linear(hidden_size, hidden_size)  # W_o

    def forward(self, x: torch.Tensor, mask: torch.Tensor, index: torch.Tensor = None) -> torch.Tensor:
        """x: (B, N, D); mask: (B, N) bool, True where a real item stands. Returns (B, N, D).

        With `index` (B, M), only the outputs at those positions are computed, (B, M, D): every
        position still contributes its key and value, but the queries, mixing and W_o run M
        times, not N. Causal mode takes one position per row (M = 1).
        """
        qkv = on_real_positions(self.qkv, mask, x)  # (B, N, 3D), zeros at padding (masked in `mix`)
        mixed = self.mix(qkv, mask, index)  # (B, N or M, D)
        if index is not None:
            return self._project(mixed)
        return on_real_positions(self._project, mask, mixed)

    def _project(self, mixed: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(mixed))

    def mix(self, qkv: torch.Tensor, mask: torch.Tensor, index: torch.Tensor = None) -> torch.Tensor:
        """The mixing rule alone, (B, N, 3D) → (B, N or M, D), in qkv's dtype."""
        raise NotImplementedError

    def initial_state(self, batch_size: int) -> torch.Tensor:
        """The empty state of `step`, (B, ...), in at least fp32."""
        raise ValueError(self._no_step())

    def step(self, x: torch.Tensor, state: torch.Tensor) -> tuple:
        """Causal attention at one new position: x (B, D) and the state → (output (B, D), new state).

        Equals `forward` at position t of a causal sequence when the state holds positions 0..t-1
        (`initial_state` for t = 0), at a cost that does not grow with t.
        """
        if not self.causal:
            raise ValueError("step needs causal attention: a bidirectional position sees later ones")
        mixed, state = self.mix_step(self.qkv(x), state)  # (B, D), new state
        return self.out(self.dropout(mixed)), state

    def mix_step(self, qkv: torch.Tensor, state: torch.Tensor) -> tuple:
        """The mixing rule at one new position: (B, 3D) and the state → ((B, D) in qkv's dtype, new state)."""
        raise ValueError(self._no_step())

    def _no_step(self):
        return (
            f"attention '{self.name}' has no recurrent step (its state would be every past key and value); "
            "the recurrent mixers are hydra, linrec and elu"
        )

    def _zeros(self, *shape) -> torch.Tensor:
        """A state of zeros on the weights' device, in at least fp32."""
        weight = self.qkv.weight
        return torch.zeros(*shape, dtype=accumulation_dtype(weight.dtype), device=weight.device)

    def extra_repr(self) -> str:
        return f"hidden_size={self.hidden_size}, causal={self.causal}"


class MultiHeadMixer(TokenMixer):
    """A token mixer with H heads of d = D / H features each (softmax, linrec, elu)."""

    def __init__(self, hidden_size: int, causal: bool, dropout: float = 0.0, n_heads: int = 2):
        super().__init__(hidden_size, causal, dropout)
        if not isinstance(n_heads, int) or n_heads <= 0 or hidden_size % n_heads:
            raise ValueError(f"hidden_size ({hidden_size}) must be divisible by n_heads ({n_heads!r})")
        self.n_heads = n_heads

    def heads(self, qkv: torch.Tensor, index: torch.Tensor = None, dtype: torch.dtype = None) -> tuple:
        """qkv (B, N, 3D) → q (B, N or M, H, d) at `index` only when given, k and v (B, N, H, d).

        In `dtype` when given (the linear mixers accumulate in at least fp32)."""
        if dtype is not None:
            qkv = qkv.to(dtype)
        q, k, v = qkv.chunk(3, dim=-1)  # 3 × (B, N, D)
        if index is not None:
            q = gather_positions(q, index)  # (B, M, D)
        return tuple(x.unflatten(-1, (self.n_heads, -1)) for x in (q, k, v))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, n_heads={self.n_heads}"
