"""A/B in one process: HydraRec's training step with the per-position parts of its layers (projections,
norms, feed-forward) on the real positions only, as the code runs them, against the same step with
them run at every position of the padded windows (`on_real_positions` swapped for a plain call: the
code before the change). Same model, same batches, alternating; process CPU time on one thread, so
another process on the other core moves both sides alike. Forward and backward of the loss; the
optimizer step and data loading are the same on both sides and left out.

    .venv/bin/python docs/results/real-positions-ab/ab.py [OUTPUT_DIR]   # from the repository root

Writes ab.md and ab.csv (default: docs/results/real-positions-ab).
"""

import contextlib
import os
import statistics
import sys
import time

import torch

from recbole_hydra.experiments.reports.tables import format_table, write_rows
from recbole_hydra.files import write_atomic
from recbole_hydra.model import layer as layer_module
from recbole_hydra.model.mixers import token_mixer
from recbole_hydra.runtime.config import build_config
from recbole_hydra.runtime.training import prepare

DATA = {"data_path": "../shared/datasets", "load_col": {"inter": ["user_id", "item_id", "timestamp"]}}
CASES = [  # (label, dataset, overrides, config files): the defaults, and the dense preset at N = 200
    ("ml-100k, causal, N 50", "ml-100k", {}, []),
    ("toys, causal, N 50", "toys", DATA, []),
    ("toys, bidirectional, N 50", "toys", dict(DATA, bidirectional=True), []),
    ("lastfm, causal, N 50", "lastfm", DATA, []),
    ("ml-1m, causal, N 200", "ml-1m", dict(DATA, MAX_ITEM_LIST_LENGTH=200), ["properties/presets/dense.yaml"]),
    ("ml-1m, causal softmax, N 200", "ml-1m", dict(DATA, MAX_ITEM_LIST_LENGTH=200, attention="softmax"),
     ["properties/presets/dense.yaml"]),
    ("ml-1m, bidirectional, N 200", "ml-1m", dict(DATA, MAX_ITEM_LIST_LENGTH=200, bidirectional=True),
     ["properties/presets/dense.yaml"]),
]  # fmt: skip
BATCHES = 20  # spread over the epoch
ROUNDS = 5


@contextlib.contextmanager
def every_position():
    """The code before the change: the per-position parts run over every slot, padding included."""
    saved = layer_module.on_real_positions, token_mixer.on_real_positions
    plain = lambda per_position, mask, *tensors: per_position(*tensors)  # noqa: E731
    layer_module.on_real_positions = token_mixer.on_real_positions = plain
    try:
        yield
    finally:
        layer_module.on_real_positions, token_mixer.on_real_positions = saved


def step_seconds(model, batches):
    start = time.process_time()
    for batch in batches:
        model.zero_grad(set_to_none=True)
        model.calculate_loss(batch).backward()
    return time.process_time() - start


def measure(label, dataset, overrides, config_files):
    config = build_config("HydraRec", dataset, config_files, dict(overrides, show_progress=False, state="ERROR"))
    model, train_data, _, _ = prepare(config)
    model.train()
    batches = list(train_data)
    batches = batches[:: max(1, len(batches) // BATCHES)][:BATCHES]
    lengths = [(batch[model.ITEM_SEQ] != 0).sum(dim=1) for batch in batches]  # (B,) each
    real = [float(length.sum() / (len(length) * length.max())) for length in lengths]  # after trim_padding
    step_seconds(model, batches)  # warm-up
    times = {"every position": [], "real positions": []}
    for round_ in range(ROUNDS):
        order = ["every position", "real positions"][:: 1 if round_ % 2 == 0 else -1]
        for side in order:
            with every_position() if side == "every position" else contextlib.nullcontext():
                times[side].append(step_seconds(model, batches) / len(batches))
    every, only_real = (statistics.median(times[side]) for side in ("every position", "real positions"))
    row = {
        "case": label,
        "batches": len(batches),
        "real slots": round(statistics.mean(real), 2),
        "every position (ms / step)": round(every * 1e3, 1),
        "real positions (ms / step)": round(only_real * 1e3, 1),
        "real / every": round(only_real / every, 2),
    }
    print(row, flush=True)
    return row


def report(rows):
    """ab.md's text for `rows` (from `measure`, or read back from ab.csv)."""
    return (
        "# Training step, per-position parts on real positions only against every position\n\n"
        + format_table(rows, list(rows[0]), float_digits=2)
        + f"\n\nMedian over {ROUNDS} alternating rounds of the mean step (forward and backward of the loss) over "
        f"{BATCHES} batches spread over the epoch; process CPU time, one torch thread; 'real slots': the "
        "share of a batch's (B, N) slots that hold an item (N after trimming the batch to its longest row). "
        "Command: `.venv/bin/python docs/results/real-positions-ab/ab.py`.\n"
    )


def main(output_dir):
    torch.set_num_threads(1)
    rows = [measure(*case) for case in CASES]
    os.makedirs(output_dir, exist_ok=True)
    write_rows(os.path.join(output_dir, "ab.csv"), rows)
    text = report(rows)
    write_atomic(os.path.join(output_dir, "ab.md"), text)
    print(text)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
