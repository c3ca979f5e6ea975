"""Next-item losses over a whole catalogue, in bounded memory. Pure torch.

Training on every position of a window asks for R = B·N scores against I items at once: for
ml-1m at N = 200 and 128 windows a batch that is 25,600 × 3,416 logits (350 MB, twice that with
their gradient), and a catalogue of a million items would need terabytes. `cross_entropy` splits
the positions into chunks of at most `max_logits` logits and recomputes each chunk's logits in
the backward pass instead of keeping them: the same value and gradients, memory O(max_logits).

Shapes: R positions, D hidden size, I items (id 0, padding, included as a column, as RecBole does).
"""

import torch
import torch.nn.functional as F


def _logits(hidden, weight, bias):
    logits = hidden @ weight.T  # (C, I)
    return logits if bias is None else logits + bias


class _ChunkedCrossEntropy(torch.autograd.Function):
    """mean_r [ logsumexp_i (h_r·w_i + b_i) − (h_r·w_t + b_t) ], chunk by chunk, logits recomputed."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, chunk):
        log_normaliser = torch.empty(hidden.size(0), dtype=torch.float32, device=hidden.device)  # (R,)
        for start in range(0, hidden.size(0), chunk):
            rows = slice(start, start + chunk)
            log_normaliser[rows] = torch.logsumexp(_logits(hidden[rows], weight, bias).float(), dim=1)
        target_logit = (hidden * weight[targets]).sum(dim=1).float()  # (R,)
        if bias is not None:
            target_logit = target_logit + bias[targets].float()
        ctx.chunk = chunk
        ctx.save_for_backward(hidden, weight, bias, targets, log_normaliser)
        return (log_normaliser - target_logit).mean().to(hidden.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_loss):
        hidden, weight, bias, targets, log_normaliser = ctx.saved_tensors
        scale = grad_loss.float() / hidden.size(0)
        grad_hidden = torch.empty_like(hidden)
        grad_weight = torch.zeros_like(weight, dtype=torch.float32)
        grad_bias = None if bias is None else torch.zeros_like(bias, dtype=torch.float32)
        for start in range(0, hidden.size(0), ctx.chunk):
            rows = slice(start, start + ctx.chunk)
            # d loss / d logits = (softmax − one-hot(target)) / R
            probabilities = (_logits(hidden[rows], weight, bias).float() - log_normaliser[rows, None]).exp_()
            probabilities[torch.arange(probabilities.size(0), device=hidden.device), targets[rows]] -= 1
            probabilities.mul_(scale)  # (C, I)
            grad_hidden[rows] = (probabilities @ weight.float()).to(hidden.dtype)
            grad_weight.addmm_(probabilities.T, hidden[rows].float())
            if grad_bias is not None:
                grad_bias += probabilities.sum(dim=0)
        grad_bias = None if grad_bias is None else grad_bias.to(bias.dtype)
        return grad_hidden, grad_weight.to(weight.dtype), grad_bias, None, None


def cross_entropy(hidden, weight, targets, bias=None, max_logits=None):
    """Mean CE of scores hidden @ weightᵀ (+ bias) against `targets`: hidden (R, D), weight (I, D), targets (R,).

    Equal to F.cross_entropy on the full (R, I) logits. With `max_logits` below R·I, the logits
    are never all held at once (see the module docstring).
    """
    if not max_logits or hidden.size(0) * weight.size(0) <= max_logits:
        return F.cross_entropy(_logits(hidden, weight, bias), targets)
    chunk = max(1, max_logits // weight.size(0))
    return _ChunkedCrossEntropy.apply(hidden, weight, bias, targets, chunk)
