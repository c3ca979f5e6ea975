"""What the multi-head linear mixers (linrec, elu) share: the sum Σ_s (q_t · k_s) v_s in linear time,
and the frame around it (heads, masks, fp32 accumulation, the recurrent state).

Written as q_tᵀ S with S = Σ_s k_s v_sᵀ, a d × e matrix per head, the sum never forms the N × N
attention matrix. A bidirectional row needs one S. A causal sequence needs the prefix sums
S_t = Σ_{s≤t} k_s v_sᵀ; kept at every position they would take O(N·H·d·e) memory, d times the
input. So the causal sum runs chunk by chunk (the chunkwise form of linear attention): within a
chunk of L = d positions, the masked L × L products q_t · k_s; across chunks, S at each chunk's
start. Both take O(N·H·d) memory, the size of the input, whatever N is. One new position needs
S_{t-1} alone. Pure torch. Shapes: B batch, N sequence length, D hidden size, H heads,
d = D / H key features, e value features, M query positions, C chunks of L positions.
"""

import torch

from recbole_hydra.model.mixers.token_mixer import MultiHeadMixer, accumulation_dtype, visible_from


def kernel_mix(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool) -> torch.Tensor:
    """Σ_s (q_t · k_s) v_s over s ≤ t (causal) or all s: q (B, M, H, d), k (B, N, H, d), v (B, N, H, e) → (B, M, H, e).

    Causal mode needs a query at every position (M = N). Padded keys must be zero.
    """
    if causal:
        return causal_kernel_mix(q, k, v, chunk=q.size(-1))
    total = torch.einsum("bnhi,bnhj->bhij", k, v)  # (B, H, d, e): one S per row
    return torch.einsum("bmhi,bhij->bmhj", q, total)


def causal_kernel_mix(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, chunk: int) -> torch.Tensor:
    """Σ_{s≤t} (q_t · k_s) v_s, chunk positions at a time: q, k (B, N, H, d), v (B, N, H, e) → (B, N, H, e).

    Equal to q_tᵀ S_t with S_t the prefix sums, without storing S_t at every position.
    """
    length = q.size(1)
    pad = -length % chunk  # zero positions at the end: later than every real one, so they change nothing

    def chunks(x):  # (B, N, H, f) → (B, C, L, H, f)
        x = torch.nn.functional.pad(x, (0, 0, 0, 0, 0, pad))
        return x.unflatten(1, (x.size(1) // chunk, chunk))

    q, k, v = chunks(q), chunks(k), chunks(v)
    scores = torch.einsum("bclhi,bcmhi->bchlm", q, k).tril()  # (B, C, H, L, L): q_t · k_s, s ≤ t in the chunk
    within = torch.einsum("bchlm,bcmhj->bclhj", scores, v)  # (B, C, L, H, e)
    per_chunk = torch.einsum("bclhi,bclhj->bchij", k, v)  # (B, C, H, d, e): Σ k vᵀ over each chunk
    # S at each chunk's start: the sum over the earlier chunks (none for the first)
    before = torch.cat([torch.zeros_like(per_chunk[:, :1]), per_chunk.cumsum(dim=1)[:, :-1]], dim=1)
    earlier = torch.einsum("bclhi,bchij->bclhj", q, before)  # (B, C, L, H, e)
    return (within + earlier).flatten(1, 2)[:, :length]


def kernel_step(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, total: torch.Tensor) -> tuple:
    """One new position: S_t = S_{t-1} + k_t v_tᵀ and q_tᵀ S_t.

    q, k (B, H, d), v (B, H, e), S_{t-1} (B, H, d, e) → (q_tᵀ S_t (B, H, e), S_t).
    """
    total = total + torch.einsum("bhi,bhj->bhij", k, v)
    return torch.einsum("bhi,bhij->bhj", q, total), total


class LinearMixer(MultiHeadMixer):
    """A multi-head mixer built on `kernel_mix`; subclasses write the rule per head (`mix_heads`,
    `step_heads`) on tensors in at least fp32. The recurrent state is one d × (d + 1) matrix per
    head: a running Σ k vᵀ and one more running column (what the column holds is the subclass's)."""

    recurrent = True

    def mix(self, qkv, mask, index=None):
        mask, causal = visible_from(mask, self.causal, index)  # (B, N)
        q, k, v = self.heads(qkv, index, accumulation_dtype(qkv.dtype))  # (B, N|M, H, d), 2 × (B, N, H, d)
        real = mask[:, :, None, None].to(k.dtype)  # (B, N, 1, 1): 0 at padding, which must add nothing
        return self.mix_heads(q, k, v, real, causal).flatten(-2).to(qkv.dtype)  # (B, N|M, D)

    def mix_heads(self, q, k, v, real, causal):
        """q (B, N|M, H, d), k and v (B, N, H, d), real (B, N, 1, 1) → (B, N|M, H, d)."""
        raise NotImplementedError

    def initial_state(self, batch_size: int) -> torch.Tensor:
        """(B, H, d, d + 1) zeros, in at least fp32."""
        head_size = self.hidden_size // self.n_heads
        return self._zeros(batch_size, self.n_heads, head_size, head_size + 1)

    def mix_step(self, qkv, state):
        q, k, v = self.heads(qkv, dtype=state.dtype)  # 3 × (B, H, d)
        mixed, state = self.step_heads(q, k, v, state)  # (B, H, d), (B, H, d, d + 1)
        return mixed.flatten(-2).to(qkv.dtype), state

    def step_heads(self, q, k, v, state):
        """q, k, v (B, H, d) and the state (B, H, d, d + 1) → (output (B, H, d), new state)."""
        raise NotImplementedError
