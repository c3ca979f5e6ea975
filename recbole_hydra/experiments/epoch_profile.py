"""Where one training epoch's time goes, stage by stage, against a FLOP floor (`run_hydrarec.py profile`).

Method. The model, data and settings are a real run's (runtime.training.prepare), and so are the
trainer, its optimizer and its epoch:

* epoch: one whole training epoch, `Trainer._train_epoch`, exactly as `fit` runs it;
* evaluation: one pass over the validation rows, `Trainer._valid_epoch`, as `fit` runs it;
* data: the training loader alone over the whole epoch (RecBole's collation and, in
  bidirectional mode, its mask transform);
* stages: during one real forward of each of K batches, hooks capture every stage's inputs;
  each stage is then run alone on them, forward and backward (with a random gradient of its
  output's shape), and timed: the embeddings (items + positions, LayerNorm, dropout), each
  layer's token mixer (projections, mixing, dropout), its local term where it has one (the
  depthwise convolution beside the mixer), the rest of each layer (residual, norms, feed-forward;
  the layer's time minus its mixer's and its local term's), and the loss over the catalogue. The
  optimizer's step is timed after each batch's backward. Stage times are scaled from K batches
  to the epoch; what they leave of the epoch is autograd's bookkeeping and the glue between them.

The FLOP floor of a stage is the FLOPs of its matrix products (forward and backward: 3 × the
forward's) at the best GEMM rate measured in the same process, with the same threads, on the
stage's own shapes: what the stage would cost if every product ran at that rate and everything
else were free. The layers' per-position products (projections, feed-forward) run on the real
positions only (token_mixer.on_real_positions), so the floor counts those; softmax's N × N products
count the real share of the slots too. A second floor counts every slot, padding included, as
the layers computed before they skipped it (and as older profiles counted).

Shapes: B batch, N positions, D hidden, F inner (feed-forward), I items, R targets, P = B·N.
"""

import contextlib
import math
import os
import time

import torch

from recbole_hydra.experiments.reports.tables import format_table, write_rows
from recbole_hydra.files import write_atomic
from recbole_hydra.model.losses import CPU_CHUNK_LOGITS
from recbole_hydra.runtime.training import make_trainer, prepare

PROFILE_NAME = "profile"  # profile.md and profile.csv


def _timed(function):
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def _forward_backward(function, *inputs):
    """Seconds for function(*inputs) and its backward against a random gradient of the output's shape.

    The random gradient is drawn between the two clocks: drawing a (B, N, D) tensor costs about as
    much as a cheap stage, and subtracting stages (a layer minus its parts) would not cancel it.
    """
    leaves = [x.detach().requires_grad_(x.is_floating_point()) if torch.is_tensor(x) else x for x in inputs]
    forward_seconds, out = _timed(lambda: function(*leaves))
    grad = torch.randn_like(out) if out.dim() else None
    backward_seconds, _ = _timed(lambda: out.backward(grad))
    return forward_seconds + backward_seconds


@contextlib.contextmanager
def _captured_inputs(model):
    """Record, per forward: the embeddings' input, each layer's and each mixer's (x, mask, index), and
    the loss's (output, targets). Yields the list that fills up (one dict per forward)."""
    calls = []
    handles = []

    def record(key):
        def hook(module, args):
            calls[-1].setdefault(key, []).append(args)

        return hook

    for depth, layer in enumerate(model.layers):
        handles.append(layer.register_forward_pre_hook(record(("layer", depth))))
        handles.append(layer.attention.register_forward_pre_hook(record(("mixer", depth))))
    original_embed, original_loss = model.embed, model._loss

    def embed(item_seq):
        calls[-1]["embed"] = item_seq
        return original_embed(item_seq)

    def loss(output, pos_items, neg_items=None):
        calls[-1]["loss"] = (output, pos_items, neg_items)
        return original_loss(output, pos_items, neg_items)

    model.embed, model._loss = embed, loss
    try:
        yield calls
    finally:
        for handle in handles:
            handle.remove()
        del model.embed, model._loss  # back to the class's methods


def _gemm_rate(shapes, repeats=3):
    """The best FLOP/s of (m × k) @ (k × n) products over `shapes`, measured here and now."""
    best = 0.0
    for m, k, n in shapes:
        a, b = torch.randn(m, k), torch.randn(k, n)
        a @ b  # warm-up
        seconds = min(_timed(lambda a=a, b=b: a @ b)[0] for _ in range(repeats))
        best = max(best, 2 * m * k * n / seconds)
    return best


def _stage_seconds(model, captured):
    """{stage: seconds} of each stage run alone, forward and backward, on its captured inputs."""
    seconds = {"embeddings": _forward_backward(model.embed, captured["embed"]), "mixer": 0.0}
    has_local = any(layer.local is not None for layer in model.layers)
    if has_local:
        seconds["local term"] = 0.0
    seconds["norms and feed-forward"] = 0.0
    for depth, layer in enumerate(model.layers):
        x, mask, *_ = captured[("layer", depth)][0]
        mixer = _forward_backward(layer.attention, *captured[("mixer", depth)][0])
        local = _forward_backward(layer.local, x, mask) if layer.local is not None else 0.0
        whole = _forward_backward(layer, *captured[("layer", depth)][0])
        seconds["mixer"] += mixer
        if has_local:
            seconds["local term"] += local
        seconds["norms and feed-forward"] += max(0.0, whole - mixer - local)
    output, targets, negatives = captured["loss"]
    seconds["loss over the items"] = _forward_backward(lambda out: model._loss(out, targets, negatives), output)
    return seconds


def _step_seconds(model, optimizer, batch):
    """(seconds of a whole training step on `batch`, of its optimizer step alone), as the trainer makes it."""
    start = time.perf_counter()
    optimizer.zero_grad()
    model.calculate_loss(batch).backward()
    before_step = time.perf_counter()
    optimizer.step()
    end = time.perf_counter()
    return end - start, end - before_step


def _stage_flops(model, captured):
    """Forward FLOPs of the matrix products per stage for one captured batch: {stage: (real only, all slots)}."""
    d = model.hidden_size
    flops = {"embeddings": (0.0, 0.0), "mixer": [0.0, 0.0], "norms and feed-forward": [0.0, 0.0]}
    for depth, layer in enumerate(model.layers):
        x, mask, *rest = captured[("layer", depth)][0]
        index = rest[0] if rest else None
        b, n, _ = x.shape
        out_positions = b * n if index is None else index.numel()
        real = mask.float().mean().item() if index is None else 1.0
        inner = layer.feed_forward.dense_1.out_features
        mixer = 2 * b * n * d * 3 * d + 2 * out_positions * d * d  # qkv at every slot, W_o at the outputs
        if layer.attention.name == "softmax":  # q·k and the weighted sum of v: (outputs × N) per row
            mixer += 2 * 2 * out_positions * n * d
        feed_forward = 2 * 2 * out_positions * d * inner
        for name, value in (("mixer", mixer), ("norms and feed-forward", feed_forward)):
            flops[name][0] += value * real
            flops[name][1] += value
    output, targets, _ = captured["loss"]
    loss = 2 * output.size(0) * d * model._catalogue_embeddings().size(0)  # (R × D) @ (D × I)
    flops["loss over the items"] = (loss, loss)
    return {stage: tuple(3 * value for value in pair) for stage, pair in flops.items()}  # + backward (2×)


def profile_epoch(config, batches=10):
    """{'rows': stage rows, 'notes': [...], ...}: one epoch of `config`'s run, broken down (see the docstring)."""
    model, train_data, valid_data, _ = prepare(config)
    trainer = make_trainer(config, model)
    model.train()
    data_seconds, batch_list = _timed(lambda: list(train_data))
    epoch_batches = len(batch_list)
    sample = batch_list[:: max(1, epoch_batches // batches)][:batches]

    stage_seconds = {}  # {stage: seconds over the sampled batches}, in _stage_seconds' order
    step_seconds, optimizer_seconds, flops = 0.0, 0.0, {}
    for batch in sample:
        with _captured_inputs(model) as calls:
            calls.append({})
            trainer.optimizer.zero_grad()
            model.calculate_loss(batch).backward()
        captured = calls[0]
        for timed in (False, True):  # the first round warms each stage's shapes up, the second counts
            seconds = _stage_seconds(model, captured)
            step, optimizer = _step_seconds(model, trainer.optimizer, batch)
            if timed:
                for stage, value in seconds.items():
                    stage_seconds[stage] = stage_seconds.get(stage, 0.0) + value
                step_seconds += step
                optimizer_seconds += optimizer
        for stage, pair in _stage_flops(model, captured).items():
            flops[stage] = tuple(a + b for a, b in zip(flops.get(stage, (0.0, 0.0)), pair))

    epoch_seconds, _ = _timed(lambda: trainer._train_epoch(train_data, 0, show_progress=False))
    model.eval()
    valid_seconds, _ = _timed(lambda: trainer._valid_epoch(valid_data, show_progress=False))

    scale = epoch_batches / len(sample)
    b, n = captured["embed"].shape
    d, items = model.hidden_size, model._catalogue_embeddings().size(0)
    inner = model.layers[0].feed_forward.dense_1.out_features
    chunk = min(captured["loss"][0].size(0), max(1, CPU_CHUNK_LOGITS // items))
    rate = _gemm_rate([(b * n, d, 3 * d), (b * n, d, inner), (b * n, inner, d), (chunk, d, items), (chunk, items, d)])

    rows = [{"stage": "data (loader, collation)", "seconds": data_seconds, "gflop": 0.0, "floor": 0.0}]
    for stage, seconds in stage_seconds.items():
        real, every_slot = (value * scale for value in flops.get(stage, (0.0, 0.0)))
        rows.append({"stage": stage, "seconds": seconds * scale, "gflop": real / 1e9, "floor": real / rate})
        rows[-1]["slot_floor"] = every_slot / rate
    rows.append({"stage": "optimizer step", "seconds": optimizer_seconds * scale, "gflop": 0.0, "floor": 0.0})
    # The stages' share of whole steps on the same batches; the rest of a step is autograd's bookkeeping and glue.
    staged = sum(stage_seconds.values()) + optimizer_seconds
    rows.append({"stage": "autograd and glue (step − stages)", "seconds": max(0.0, step_seconds - staged) * scale})
    floor = sum(row.get("floor", 0.0) for row in rows)
    slot_floor = sum(row.get("slot_floor", 0.0) for row in rows)
    rows.append(
        {"stage": "training epoch (measured)", "seconds": epoch_seconds, "gflop": rate * floor / 1e9, "floor": floor}
    )
    rows.append({"stage": "evaluation (validation pass)", "seconds": valid_seconds})
    for row in rows:
        row["share"] = row["seconds"] / epoch_seconds if "evaluation" not in row["stage"] else math.nan
        row["vs_floor"] = row["seconds"] / row["floor"] if row.get("floor") else math.nan
    return {
        "rows": rows,
        "rate": rate,
        "floor": floor,
        "slot_floor": slot_floor,
        "epoch_seconds": epoch_seconds,
        "batches": epoch_batches,
        "sampled": len(sample),
        "shape": (b, n, d, inner, items),
        "threads": torch.get_num_threads(),
    }


def write_profile(result, output_dir, notes):
    """profile.md (the table and its notes) and profile.csv in `output_dir`; returns the markdown."""
    os.makedirs(output_dir, exist_ok=True)
    columns = ["stage", "seconds", "share", "gflop", "floor", "vs_floor"]
    shown = [
        {
            "stage": row["stage"],
            "seconds": f"{row['seconds']:.1f}",
            "share": "" if math.isnan(row["share"]) else f"{100 * row['share']:.0f}%",
            "gflop": f"{row['gflop']:.0f}" if row.get("gflop") else "",
            "floor": f"{row['floor']:.1f}" if row.get("floor") else "",
            "vs_floor": "" if math.isnan(row["vs_floor"]) else f"{row['vs_floor']:.1f}×",
        }
        for row in result["rows"]
    ]
    headers = {
        "stage": "stage",
        "seconds": "s / epoch",
        "share": "share of the epoch",
        "gflop": "GFLOP (matmuls, fwd+bwd)",
        "floor": "FLOP floor (s)",
        "vs_floor": "measured / floor",
    }
    table = format_table([{headers[c]: row[c] for c in columns} for row in shown], [headers[c] for c in columns])
    b, n, d, inner, items = result["shape"]
    lines = [
        "# Where a training epoch's time goes",
        "",
        table,
        "",
        f"- {result['batches']} batches of B = {b} rows × N = {n} positions; D = {d}, F = {inner}, I = {items} items; "
        f"{result['threads']} torch thread(s). Stage times: {result['sampled']} batches, each stage run alone "
        "forward and backward on the inputs it had in a real step, scaled to the epoch.",
        f"- FLOP floor: matrix-product FLOPs at {result['rate'] / 1e9:.1f} GFLOP/s, the best rate measured here on the "
        f"stages' own shapes, at the real (not padding) positions, where the layers compute. Epoch / floor: "
        f"{result['epoch_seconds'] / result['floor']:.2f}×. Counting every slot, padding included (the floor of "
        f"profiles before the layers skipped padding), it is {result['slot_floor']:.1f} s "
        f"({result['epoch_seconds'] / result['slot_floor']:.2f}× that).",
        *[f"- {note}" for note in notes],
        "",
    ]
    text = "\n".join(lines)
    write_atomic(os.path.join(output_dir, f"{PROFILE_NAME}.md"), text)
    write_rows(os.path.join(output_dir, f"{PROFILE_NAME}.csv"), result["rows"], first=columns)
    return text
