"""One encoder layer of HydraRec: post-LN transformer layer with a token mixer (Hydra attention by
default), as RecBole's TransformerLayer is for SASRec and BERT4Rec.

`forward` runs a whole sequence; `step` runs one new position of a causal sequence from the
layer's running state (the recurrent form): the token mixer's, and with a local term its last
`local_window` inputs.
Shapes: B batch, N sequence length, D hidden size, M chosen positions per row.
"""

import functools

import torch
import torch.nn.functional as F
from recbole.model.layers import FeedForward
from torch import nn

from recbole_hydra.model.dropout import Dropout
from recbole_hydra.model.local_mixing import LocalMixing
from recbole_hydra.model.mixers import build_mixer
from recbole_hydra.model.mixers.token_mixer import gather_positions, on_real_positions

# RecBole's FeedForward writes GELU as x·0.5·(1 + erf(x/√2)) and swish as x·sigmoid(x): five and
# two separate ops, each keeping a (B, N, inner) tensor for the backward. torch's fused kernels
# compute the same functions: 36-47% less peak memory and 18-30% less time per training step of
# HydraRec on CPU (docs/performance.md). Weights and maths are unchanged.
FUSED_ACTIVATIONS = {"gelu": F.gelu, "swish": F.silu}


class HydraLayer(nn.Module):
    """Post-LN transformer layer, as RecBole's TransformerLayer, with the token mixer `attention`
    (a name in mixers.MIXERS; n_heads for the multi-head ones, compile for hydra), and an optional
    local term over `local_window` neighbours (local_mixing.py; in causal mode the ones before)."""

    def __init__(
        self,
        hidden_size,
        inner_size,
        causal,
        hidden_dropout,
        attn_dropout,
        hidden_act,
        eps,
        compile=False,
        attention="hydra",
        n_heads=2,
        local_window=0,
        hydra_mean=False,
    ):
        super().__init__()
        self.attention = build_mixer(
            attention, hidden_size, causal, attn_dropout, n_heads=n_heads, compile=compile, hydra_mean=hydra_mean
        )
        self.local = LocalMixing(hidden_size, local_window, causal) if local_window else None
        self.attention_dropout = Dropout(hidden_dropout)
        self.attention_norm = nn.LayerNorm(hidden_size, eps=eps)
        # RecBole's own block: dense → act → dense → dropout → LayerNorm(· + input).
        self.feed_forward = FeedForward(hidden_size, inner_size, hidden_dropout, hidden_act, eps)
        if hidden_act in FUSED_ACTIVATIONS:
            self.feed_forward.intermediate_act_fn = FUSED_ACTIVATIONS[hidden_act]
        self.feed_forward.dropout = Dropout(hidden_dropout)  # same p, a cheaper mask on CPUs (dropout.py)

    def forward(self, x, mask, index=None):
        """x: (B, N, D), mask: (B, N) bool → (B, N, D); or (B, M, D) at positions `index` (B, M) only."""
        attended = self.attention(x, mask, index)  # (B, N or M, D)
        if self.local is not None:
            local = self.local(x, mask)  # (B, N, D)
            attended = attended + (local if index is None else gather_positions(local, index))
        if index is not None:
            return self._add_norm_feed_forward(gather_positions(x, index), attended)
        return on_real_positions(self._add_norm_feed_forward, mask, x, attended)  # padding rows stay 0

    def _add_norm_feed_forward(self, residual, attended):
        """Everything after the mixing works per position: (..., D), (..., D) → (..., D)."""
        return self.feed_forward(self.attention_norm(residual + self.attention_dropout(attended)))

    def initial_state(self, batch_size):
        """The empty recurrent state of `step`, one tensor (B, ...): the token mixer's; with a local
        term, the mixer's flattened and the last `local_window` inputs after it, (B, mixer + W·D)."""
        mixer_state = self.attention.initial_state(batch_size)
        if self.local is None:
            return mixer_state
        recent = self.local.initial_state(batch_size, mixer_state.dtype)  # (B, W, D)
        return torch.cat([mixer_state.flatten(1), recent.flatten(1)], dim=1)

    @functools.cached_property
    def _mixer_state_shape(self):
        """The token mixer's state shape past the batch dimension, read once (`step` unpacks it)."""
        return self.attention.initial_state(1).shape[1:]

    def step(self, x, state):
        """One new position of a causal sequence: x (B, D) and its state → (output (B, D), new state)."""
        if self.local is None:
            attended, state = self.attention.step(x, state)  # (B, D)
        else:
            mixer_shape = self._mixer_state_shape
            mixer_state, recent = state.split([mixer_shape.numel(), state.size(1) - mixer_shape.numel()], dim=1)
            attended, mixer_state = self.attention.step(x, mixer_state.unflatten(1, mixer_shape))
            local, recent = self.local.step(x, recent.unflatten(1, (self.local.window, -1)))  # (B, D), (B, W, D)
            attended = attended + local
            state = torch.cat([mixer_state.flatten(1), recent.flatten(1)], dim=1)
        x = self.attention_norm(x + self.attention_dropout(attended))
        return self.feed_forward(x), state
