"""A local term beside the token mixer: each position also sees its neighbours' features directly.

Bidirectional HydraRec predicts at a mask token appended after the history. Its query is the mask
embedding plus a position, and Hydra gives it one summary of the whole window, so the last real
item, the strongest signal for the next one, reaches it only diluted in that sum. (In causal mode
the position that predicts is the last item itself, through the residual connection.) A depthwise
convolution over positions gives every position its neighbours within `window` on either side:

    local_t = Σ_{|j| ≤ window} w_j ⊙ x_{t+j}    over real positions t + j,

O(N·D·window), no N×N tensor. Its weights start at zero, so a layer starts as the plain one.
Pure torch. Shapes: B batch, N sequence length, D hidden size.
"""

import torch
from torch import nn


class LocalMixing(nn.Module):
    """Σ_{|j| ≤ window} w_j ⊙ x_{t+j} per feature (a depthwise convolution), padding contributing nothing."""

    def __init__(self, hidden_size: int, window: int):
        super().__init__()
        if window <= 0:
            raise ValueError(f"window must be a positive int, got {window!r}")
        self.window = window
        self.conv = nn.Conv1d(hidden_size, hidden_size, 2 * window + 1, padding=window, groups=hidden_size, bias=False)
        nn.init.zeros_(self.conv.weight)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x: (B, N, D), mask: (B, N) bool → (B, N, D)."""
        x = x * mask.unsqueeze(-1).to(x.dtype)  # padded neighbours add nothing
        return self.conv(x.transpose(1, 2)).transpose(1, 2)

    def extra_repr(self) -> str:
        return f"window={self.window}"
