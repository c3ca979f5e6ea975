"""Multi-head scaled dot-product attention, the control: SASRec's (causal) and BERT4Rec's (bidirectional) kernel.

    out_t = Σ_s softmax_s(q_t · k_s / √d) v_s    per head,

over the real positions s ≤ t (causal) or all real s (bidirectional), through
`torch.nn.functional.scaled_dot_product_attention`. It builds the N × N score matrix: O(N²)
time and memory, the cost the other mixers avoid. No recurrent step: its state would be every
past key and value. Pure torch.
Shapes: B batch, N sequence length, D hidden size, H heads, d = D / H, M chosen positions per row.
"""

import torch
import torch.nn.functional as F

from recbole_hydra.model.mixers.token_mixer import MultiHeadMixer, visible_from


class SoftmaxAttention(MultiHeadMixer):
    """Multi-head softmax attention (see the module docstring).

    Dropout acts on the mixed features before W_o, as for every mixer here, not on the attention
    probabilities as in RecBole's SASRec: the mixers then differ in their mixing rule alone.

    Args: as MultiHeadMixer (hidden_size, causal, dropout, n_heads).
    """

    name = "softmax"

    def mix(self, qkv, mask, index=None):
        keys, causal = visible_from(mask, self.causal, index)  # (B, N)
        q, k, v = (x.transpose(1, 2) for x in self.heads(qkv, index))  # (B, H, N|M, d), 2 × (B, H, N, d)
        allowed = keys[:, None, None, :]  # (B, 1, 1, N)
        if causal:
            n = keys.size(1)
            allowed = allowed & torch.ones(n, n, dtype=torch.bool, device=keys.device).tril()  # (B, 1, N, N)
        # A query that sees no key (in a row of padding only) would take a softmax over nothing, NaN:
        # let it see every position. No real position is such a query (it always sees itself).
        allowed = allowed | ~allowed.any(dim=-1, keepdim=True)
        mixed = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)  # (B, H, N|M, d)
        return mixed.transpose(1, 2).flatten(-2)  # (B, N|M, D)
