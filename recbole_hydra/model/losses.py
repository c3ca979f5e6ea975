"""Next-item losses over a whole catalogue, in bounded memory. Pure torch.

Training on every position of a window asks for R = B·N scores against I items at once: for
ml-1m at N = 200 and 128 windows a batch that is 25,600 × 3,416 logits (350 MB, twice that with
their gradient), and a catalogue of a million items would need terabytes. `cross_entropy` splits
the positions into chunks of at most `max_logits` logits and, when gradients are wanted, computes
them in the same pass as the loss, chunk by chunk, instead of keeping the logits for the backward:
the same value and gradients, memory O(max_logits), and no more matrix products than autograd's.

Shapes: R positions, D hidden size, I items (id 0, padding, included as a column, as RecBole does).
"""

import torch
import torch.nn.functional as F

# On a CPU, chunks of about this many logits (2 MB in fp32) stay in cache between the products and
# the softmax: the fused loss below ran 2.5× faster than unchunked autograd on ml-1m's shapes
# (docs/performance.md). On a GPU, chunks are as large as `max_logits` allows.
CPU_CHUNK_LOGITS = 2**19


def _maths_dtype(tensor):
    """At least fp32: softmax sums lose their low bits fast in half precision."""
    return torch.promote_types(tensor.dtype, torch.float32)


def _logits(hidden, weight, bias):
    logits = hidden @ weight.T  # (C, I)
    return logits if bias is None else logits + bias


def _chunked_loss(hidden, weight, bias, targets, chunk):
    """mean_r [ logsumexp_i (h_r·w_i + b_i) − (h_r·w_t + b_t) ], chunk by chunk: the value alone."""
    dtype = _maths_dtype(hidden)
    total = hidden.new_zeros((), dtype=dtype)
    for start in range(0, hidden.size(0), chunk):
        rows = slice(start, start + chunk)
        log_probs = F.log_softmax(_logits(hidden[rows], weight, bias).to(dtype), dim=1)  # (C, I)
        total -= log_probs.gather(1, targets[rows, None]).sum()
    return (total / hidden.size(0)).to(hidden.dtype)


class _FusedCrossEntropy(torch.autograd.Function):
    """The loss and its gradients in one pass over chunks of positions; the backward only scales them.

    Per chunk: logits, their maximum, the exponentials of their distance to it in place (one exp
    per logit), the loss from their sum, then the softmax (d loss / d logits = softmax − one-hot)
    and its two products with the weights and the hidden states. Three matrix products in all, as
    unchunked autograd makes, and no logits are kept for the backward: memory O(chunk × I) plus the
    gradients themselves (the size of the inputs).
    """

    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, chunk):
        want_hidden, want_weight, want_bias = ctx.needs_input_grad[:3]
        dtype = _maths_dtype(hidden)
        total = hidden.new_zeros((), dtype=dtype)
        grad_hidden = torch.empty_like(hidden) if want_hidden else None  # (R, D)
        grad_weight = torch.zeros_like(weight, dtype=dtype) if want_weight else None  # (I, D)
        grad_bias = torch.zeros_like(bias, dtype=dtype) if want_bias else None  # (I,)
        weight_f = weight.to(dtype)
        for start in range(0, hidden.size(0), chunk):
            rows = slice(start, start + chunk)
            chunk_targets = targets[rows, None]  # (C, 1)
            logits = _logits(hidden[rows], weight, bias).to(dtype)  # (C, I)
            top = logits.amax(dim=1, keepdim=True)  # (C, 1)
            total -= (logits.gather(1, chunk_targets) - top).sum()
            probabilities = logits.sub_(top).exp_()  # in place: one exp per logit (log_softmax, then exp, took two)
            sums = probabilities.sum(dim=1, keepdim=True)  # (C, 1)
            total += sums.log().sum()  # loss = log Σ exp(logit − top) − (logit_t − top)
            probabilities.div_(sums)  # the softmax
            probabilities.scatter_add_(1, chunk_targets, probabilities.new_full(chunk_targets.shape, -1.0))
            if want_hidden:
                grad_hidden[rows] = (probabilities @ weight_f).to(hidden.dtype)
            if want_weight:
                grad_weight.addmm_(probabilities.T, hidden[rows].to(dtype))
            if want_bias:
                grad_bias += probabilities.sum(dim=0)
        ctx.save_for_backward(grad_hidden, grad_weight, grad_bias)
        ctx.dtypes = (weight.dtype, None if bias is None else bias.dtype)
        ctx.rows = hidden.size(0)
        return (total / hidden.size(0)).to(hidden.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_loss):
        grad_hidden, grad_weight, grad_bias = ctx.saved_tensors
        scale = grad_loss.to(_maths_dtype(grad_loss)) / ctx.rows  # the loss is a mean over the R positions
        weight_dtype, bias_dtype = ctx.dtypes
        return (
            None if grad_hidden is None else grad_hidden * scale.to(grad_hidden.dtype),
            None if grad_weight is None else (grad_weight * scale).to(weight_dtype),
            None if grad_bias is None else (grad_bias * scale).to(bias_dtype),
            None,
            None,
        )


def cross_entropy(hidden, weight, targets, bias=None, max_logits=None):
    """Mean CE of scores hidden @ weightᵀ (+ bias) against `targets`: hidden (R, D), weight (I, D), targets (R,).

    Equal to F.cross_entropy on the full (R, I) logits, computed in chunks of at most `max_logits`
    logits (None: no bound), smaller on a CPU (CPU_CHUNK_LOGITS; see the module docstring).
    """
    limit = max_logits or hidden.size(0) * weight.size(0)
    if hidden.device.type == "cpu":
        limit = min(limit, CPU_CHUNK_LOGITS)
    chunk = max(1, limit // weight.size(0))
    inputs = [tensor for tensor in (hidden, weight, bias) if tensor is not None]
    if torch.is_grad_enabled() and any(tensor.requires_grad for tensor in inputs):
        return _FusedCrossEntropy.apply(hidden, weight, bias, targets, chunk)
    return _chunked_loss(hidden, weight, bias, targets, chunk)
