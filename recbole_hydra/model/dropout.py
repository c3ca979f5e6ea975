"""Dropout with a cheaper random mask on CPUs. Pure torch.

torch's CPU dropout draws its mask with `bernoulli_` and makes three passes besides; on HydraRec's
training shapes it took about 9% of a step (docs/performance.md). Here the mask comes from raw
32-bit random integers compared with a threshold: the same distribution (to 2⁻³¹), half the
time forward and backward. On other devices, and in eval mode, it is torch's own dropout.
"""

import torch
from torch import nn

_RANGE = 2**31  # int32's random_() draws uniformly from [0, 2³¹)


class Dropout(nn.Dropout):
    """nn.Dropout (same arguments, no parameters: checkpoints are unchanged), faster on CPUs."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0 or x.device.type != "cpu" or self.inplace:
            return super().forward(x)
        keep = torch.empty(x.shape, dtype=torch.int32).random_() >= round(self.p * _RANGE)  # P = 1 − p
        return x * keep.to(x.dtype).mul_(1.0 / (1.0 - self.p))
