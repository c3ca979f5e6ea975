"""A/B in one process: the fused CE loss with one exp per logit (today's `losses._FusedCrossEntropy`)
against the same pass as it was before, log-softmax then exp (two), on one training batch's shapes
of ml-100k, toys and ml-1m (real positions × catalogue, D = 64). Forward and gradients, alternating,
process CPU time, one torch thread.

    .venv/bin/python docs/results/loss-one-exp/ab.py [OUTPUT_DIR]   # from the repository root

Writes ab.md and ab.csv (default: this folder).
"""

import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from recbole_hydra.experiments.reports.tables import format_table, write_rows
from recbole_hydra.files import write_atomic
from recbole_hydra.model.losses import CPU_CHUNK_LOGITS, _FusedCrossEntropy

SHAPES = [  # (case, real positions in a batch, items): the defaults' batches (profile.md of each)
    ("ml-100k, causal, N 50", 1300, 1683),
    ("toys, causal, N 50", 210, 11925),
    ("ml-1m, causal, N 200", 3600, 3417),
]
ROUNDS = 15


@torch.no_grad()  # the gradients by hand, as the autograd Function's forward computes them
def two_exp_loss(hidden, weight, targets, chunk):
    """The pass before the change: log-softmax (one exp per logit), then exp of it (another)."""
    total = hidden.new_zeros(())
    grad_hidden, grad_weight = torch.empty_like(hidden), torch.zeros_like(weight)
    for start in range(0, hidden.size(0), chunk):
        rows = slice(start, start + chunk)
        chunk_targets = targets[rows, None]
        log_probs = F.log_softmax(hidden[rows] @ weight.T, dim=1)
        total -= log_probs.gather(1, chunk_targets).sum()
        probabilities = log_probs.exp_()
        probabilities.scatter_add_(1, chunk_targets, probabilities.new_full(chunk_targets.shape, -1.0))
        grad_hidden[rows] = probabilities @ weight
        grad_weight.addmm_(probabilities.T, hidden[rows])
    return total / hidden.size(0), grad_hidden, grad_weight


def measure(case, positions, items):
    torch.manual_seed(0)
    hidden, weight = torch.randn(positions, 64, requires_grad=True), torch.randn(items, 64, requires_grad=True)
    targets = torch.randint(1, items, (positions,))
    chunk = max(1, CPU_CHUNK_LOGITS // items)
    sides = {
        "two exps": lambda: two_exp_loss(hidden, weight, targets, chunk),
        "one exp": lambda: _FusedCrossEntropy.apply(hidden, weight, None, targets, chunk),
    }
    before, today = sides["two exps"]()[0], sides["one exp"]()
    torch.testing.assert_close(today.detach(), before)  # the same loss; both compute both gradients
    times = {side: [] for side in sides}
    for round_ in range(ROUNDS):
        for side in list(sides)[:: 1 if round_ % 2 == 0 else -1]:
            start = time.process_time()
            sides[side]()
            times[side].append(time.process_time() - start)
    two, one = (statistics.median(times[side]) * 1e3 for side in sides)
    row = {"case": case, "positions": positions, "items": items, "two exps (ms)": round(two, 1),
           "one exp (ms)": round(one, 1), "one / two": round(one / two, 2)}  # fmt: skip
    print(row, flush=True)
    return row


def report(rows):
    """ab.md's text for `rows`."""
    return (
        "# The fused CE loss: one exp per logit against two\n\n"
        + format_table(rows, list(rows[0]), float_digits=2)
        + f"\n\nMedian over {ROUNDS} alternating rounds of one batch's loss and gradients; process CPU time, "
        "one torch thread. Command: `.venv/bin/python docs/results/loss-one-exp/ab.py`.\n"
    )


def main(output_dir):
    torch.set_num_threads(1)
    rows = [measure(*shape) for shape in SHAPES]
    os.makedirs(output_dir, exist_ok=True)
    write_rows(os.path.join(output_dir, "ab.csv"), rows)
    write_atomic(os.path.join(output_dir, "ab.md"), report(rows))
    print(report(rows))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
