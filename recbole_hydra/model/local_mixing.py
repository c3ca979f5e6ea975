"""A local term beside the token mixer: each position also sees its neighbours' features directly.

Hydra attention gives each position one summary of the items it sees, Σ_s φ(k_s) ⊙ v_s, in which
any single item is diluted. The next item depends most on the last few, and a sum cannot tell them
apart from the rest of the history. A depthwise convolution over positions gives each position its
neighbours' features directly (Mamba and other linear-time sequence models add such a short
convolution for the same reason):

    bidirectional:  local_t = Σ_{|j| ≤ window} w_j ⊙ x_{t+j}    over real positions t + j,
    causal:         local_t = Σ_{0 ≤ j ≤ window} w_j ⊙ x_{t-j}  (the item itself and `window` before it).

In bidirectional mode the prediction is made at a mask token after the history, which then sees
the last real item itself. In causal mode a streamed state keeps the last `window` inputs of
each layer (`step`), so updates stay O(1) per event. O(N·D·window), no N×N tensor. The weights
start at zero, so a layer starts as the plain one. Pure torch.
Shapes: B batch, N sequence length, D hidden size, W = window.
"""

import torch
import torch.nn.functional as F
from torch import nn


class LocalMixing(nn.Module):
    """Σ_j w_j ⊙ x_{t+j} per feature over neighbours j (a depthwise convolution), padding contributing nothing.

    causal=False: j in [-window, window]; causal=True: j in [-window, 0].
    """

    def __init__(self, hidden_size: int, window: int, causal: bool = False):
        super().__init__()
        if window <= 0:
            raise ValueError(f"window must be a positive int, got {window!r}")
        self.window = window
        self.causal = causal
        taps = window + 1 if causal else 2 * window + 1
        # Causal inputs are padded on the left only, in forward; the others on both sides here.
        self.conv = nn.Conv1d(
            hidden_size, hidden_size, taps, padding=0 if causal else window, groups=hidden_size, bias=False
        )
        nn.init.zeros_(self.conv.weight)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x: (B, N, D), mask: (B, N) bool → (B, N, D)."""
        x = (x * mask.unsqueeze(-1).to(x.dtype)).transpose(1, 2)  # (B, D, N); padded neighbours add nothing
        if self.causal:
            x = F.pad(x, (self.window, 0))  # (B, D, W + N)
        return self.conv(x).transpose(1, 2)

    def initial_state(self, batch_size: int, dtype=torch.float32) -> torch.Tensor:
        """The empty state of `step`: the last W inputs, oldest first, (B, W, D); zeros stand for
        the positions before the first, as the left padding of `forward`."""
        weight = self.conv.weight
        return torch.zeros(batch_size, self.window, weight.size(0), dtype=dtype, device=weight.device)

    def step(self, x: torch.Tensor, recent: torch.Tensor):
        """One new position of a causal sequence: x (B, D), recent (B, W, D) → (local (B, D), recent)."""
        if not self.causal:
            raise ValueError("LocalMixing.step needs causal=True: a bidirectional position sees later items")
        window = torch.cat([recent.to(x.dtype), x.unsqueeze(1)], dim=1)  # (B, W + 1, D), oldest first
        local = (window * self.conv.weight[:, 0, :].T).sum(dim=1)  # taps (W + 1, D) in the same order
        return local, window[:, 1:].to(recent.dtype)

    def extra_repr(self) -> str:
        return f"window={self.window}, causal={self.causal}"
