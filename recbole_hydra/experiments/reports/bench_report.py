"""The benchmark's rows into files and tables: bench.csv, layer_overhead.csv, bench.png, bench.md.

Ratios are to the reference model (RecBole's SASRec) at the same N; tables are formatted by
`tables.format_table`, like every other table of the project.
"""

import csv
import os
import sys

from recbole_hydra.experiments.benchmarks.bench_cells import (
    CSV_COLUMNS,
    FULL,
    HYDRA,
    LAYER_COLUMNS,
    MIXER_PREFIX,
    NO_LAYERS,
    NO_MIX,
    PLAIN,
    RECBOLE_GELU,
    REFERENCE_MODEL,
    is_whole_model,
)
from recbole_hydra.experiments.reports.tables import format_table
from recbole_hydra.files import open_atomically, replaced_atomically, write_atomic


def _ok(row):
    return row["status"] == "ok"


def _reference_rows(rows, reference=REFERENCE_MODEL):
    """{seq_len: the reference model's full row}, for the rows that succeeded."""
    return {r["seq_len"]: r for r in rows if r["model"] == reference and r["variant"] == FULL and _ok(r)}


def _ratio(value, reference):
    if value is None or not reference:
        return None
    return value / reference


def _fmt(value, digits):
    return "" if value is None else f"{value:.{digits}f}"


def main_table(rows, reference=REFERENCE_MODEL):
    """Every model's row (and compiled HydraRec's) with its time and memory, and their ratios to the
    reference; the breakdown variants have their own table."""
    refs = _reference_rows(rows, reference)
    lines = []
    for row in rows:
        if not is_whole_model(row["variant"]):
            continue
        ref = refs.get(row["seq_len"]) if _ok(row) else None

        def ratio(key, row=row, ref=ref):
            return _fmt(_ratio(row[key], ref[key]) if ref else None, 2)

        name = row["model"] if row["variant"] == FULL else f"{row['model']} ({row['variant']})"
        lines.append(
            {
                "model": name,
                "mode": row["mode"],
                "N": row["seq_len"],
                "batch": row["batch_size"],
                "train_ms": _fmt(row["train_ms"], 1),
                "infer_ms": _fmt(row["infer_ms"], 1),
                "peak_mem_mb": _fmt(row["peak_mem_mb"], 1),
                f"train/{reference}": ratio("train_ms"),
                f"infer/{reference}": ratio("infer_ms"),
                f"mem/{reference}": ratio("peak_mem_mb"),
                "status": row["status"] if _ok(row) else f"{row['status']}: {row['note'][:80]}",  # full note in the csv
            }
        )
    columns = [
        "model",
        "mode",
        "N",
        "batch",
        "train_ms",
        "infer_ms",
        "peak_mem_mb",
        f"train/{reference}",
        f"infer/{reference}",
        f"mem/{reference}",
        "status",
    ]
    return format_table(lines, columns)


# The breakdown's columns, in the order of the ladder: the drop-in swap, one change at a time up to
# HydraRec, then HydraRec with parts removed.
LADDER = (
    (PLAIN, "plain"),
    (RECBOLE_GELU, "+targets only"),
    (FULL, "+fused GELU = HydraRec"),
    (NO_MIX, "HydraRec w/o mixing"),
    (NO_LAYERS, "w/o layers"),
)


def parts_table(rows, reference=REFERENCE_MODEL):
    """Causal HydraRec's training step, built up from a drop-in swap and taken apart: each as a
    ratio to the reference's step at the same N.

    plain: SASRec's layout with Hydra attention swapped in (last layer at every position,
    RecBole's GELU); +targets only: the last layer computes only the position the loss reads;
    +fused GELU: torch's fused GELU in the feed-forward = HydraRec. Neither of these two is
    linear attention's doing: RecBole's SASRec could have both. HydraRec w/o mixing: the mixing
    step removed, projections kept (HydraRec with free attention); w/o layers: embeddings, CE
    over all items and Adam only.
    """
    refs = _reference_rows(rows, reference)
    by_key = {(r["seq_len"], r["variant"]): r for r in rows if r["model"] == HYDRA and r["mode"] == "causal" and _ok(r)}
    lines = []
    for n in sorted({r["seq_len"] for r in rows}):
        ref = refs.get(n)
        found = {variant: by_key.get((n, variant)) for variant, _ in LADDER}
        if not ref or not all(found.values()):
            continue
        ms = {variant: row["train_ms"] for variant, row in found.items()}
        line = {"N": n, f"{reference}_ms": _fmt(ref["train_ms"], 1), "HydraRec_ms": _fmt(ms[FULL], 1)}
        for variant, label in LADDER:
            line[label] = _fmt(ms[variant] / ref["train_ms"], 2)
        line["mixing share"] = f"{(ms[FULL] - ms[NO_MIX]) / ms[FULL]:.0%}"
        lines.append(line)
    columns = ["N", f"{reference}_ms", "HydraRec_ms"] + [label for _, label in LADDER] + ["mixing share"]
    return format_table(lines, columns) if lines else ""


def layer_table(layer_rows):
    lines = [
        {
            "mode": r["mode"],
            "N": r["seq_len"],
            "batch": r["batch_size"],
            "layer_train_ms": _fmt(r["layer_train_ms"], 2),
            "no_mix_train_ms": _fmt(r["no_mix_train_ms"], 2),
            "train overhead": f"{r['train_overhead']:+.1%}",
            "layer_infer_ms": _fmt(r["layer_infer_ms"], 2),
            "no_mix_infer_ms": _fmt(r["no_mix_infer_ms"], 2),
            "infer overhead": f"{r['infer_overhead']:+.1%}",
        }
        for r in layer_rows
    ]
    columns = [
        "mode",
        "N",
        "batch",
        "layer_train_ms",
        "no_mix_train_ms",
        "train overhead",
        "layer_infer_ms",
        "no_mix_infer_ms",
        "infer overhead",
    ]
    return format_table(lines, columns)


def write_csv(rows, path, columns):
    with open_atomically(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: "" if row.get(key) is None else row[key] for key in columns})


def write_plot(rows, path, title=""):
    """Log-log train time, inference time and peak memory against N, one line per model and mode."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    panels = [
        ("train_ms", "training step (ms)"),
        ("infer_ms", "full-ranking inference step (ms)"),
        ("peak_mem_mb", "peak memory of a training step (MB)"),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(15, 4.5))
    series = {}
    for row in rows:
        if (row["variant"] == FULL or row["variant"].startswith(MIXER_PREFIX)) and _ok(row):
            mixer = "" if row["variant"] == FULL else f", {row['variant']}"
            series.setdefault(f"{row['model']} ({row['mode']}{mixer})", []).append(row)
    for ax, (key, label) in zip(axes, panels):
        for name, points in sorted(series.items()):
            points = sorted(points, key=lambda r: r["seq_len"])
            ax.plot([p["seq_len"] for p in points], [max(p[key], 1e-3) for p in points], marker="o", label=name)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("history length N (tokens per batch fixed)")
        ax.set_title(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with replaced_atomically(path) as temporary:
        fig.savefig(temporary, dpi=110, format="png")
    plt.close(fig)


def clock_note(settings):
    if settings.device == "cpu" and settings.threads == 1:
        note = (
            "median process CPU time per step (one torch thread; leaves out time spent waiting "
            "for a shared core); wall-clock medians are in bench.csv"
        )
    else:
        note = "median wall-clock time per step (synchronised on CUDA)"
    if settings.rounds > 1:
        note += f"; each cell the median of {settings.rounds} rounds of the whole plan"
    return note


def report_text(rows, layer_rows, command, machine, clock_note):
    """The tables as markdown, with the command and the machine that produced them."""
    parts = [
        f"Command: `{command}`",
        f"Machine: {machine}",
        f"Clock: {clock_note}",
        "",
        "Step time and peak memory (ratios to SASRec at the same N):",
        "",
        main_table(rows),
    ]
    breakdown = parts_table(rows)
    if breakdown:
        parts += [
            "",
            "Causal HydraRec's training step, built up and taken apart (ratios to SASRec's step):",
            "",
            breakdown,
        ]
    if layer_rows:
        parts += [
            "",
            "One HydraLayer with and without its mixing step (projections kept):",
            "",
            layer_table(layer_rows),
        ]
    return "\n".join(parts) + "\n"


def write_outputs(rows, layer_rows, output_dir, command, machine, clock_note, plot_title=""):
    """Write bench.csv, bench.png, bench.md (and layer_overhead.csv); return the markdown text."""
    os.makedirs(output_dir, exist_ok=True)
    write_csv(rows, os.path.join(output_dir, "bench.csv"), CSV_COLUMNS)
    if layer_rows:
        write_csv(layer_rows, os.path.join(output_dir, "layer_overhead.csv"), LAYER_COLUMNS)
    try:
        write_plot(rows, os.path.join(output_dir, "bench.png"), plot_title)
    except ImportError:  # matplotlib is an optional extra; the numbers matter more than the picture
        print("bench.png not written: matplotlib is missing (pip install 'recbole-hydra[plot]')", file=sys.stderr)
    text = report_text(rows, layer_rows, command, machine, clock_note)
    write_atomic(os.path.join(output_dir, "bench.md"), text)
    return text
