"""comparison.md and comparison.png: what the rows of comparison.csv say, for readers.

`compare` rewrites both after every finished run, so they always show the runs done so far.
"""

import json
import os
import sys

from recbole_hydra.experiments.grids.budget import capped, describe_budget, stopped_by_label
from recbole_hydra.experiments.reports.tables import group_rows, mean_std, reference_label, summary_table
from recbole_hydra.files import replaced_atomically, write_atomic
from recbole_hydra.runtime.config import plain

TABLE_NAME, PLOT_NAME = "comparison.md", "comparison.png"


MEMORY_KINDS = {
    "process_peak_rss": "each run's process peak RSS (one process per run): it includes Python, torch and the "
    "dataset, so differences between models look smaller than the models' own",
    "cuda_max_allocated": "each run's peak GPU memory allocated by torch (torch.cuda.max_memory_allocated): the "
    "model, its optimizer state, batches and activations; not the CUDA context or the process's CPU memory",
}


def memory_measured(kinds):
    """What the peak memory column measured, from the rows' `peak_memory_kind`s (none: not recorded)."""
    return "; ".join(MEMORY_KINDS.get(kind, kind) for kind in sorted(kinds)) or "not recorded"


def markdown_summary(rows, dataset, references=()):
    """comparison.md: mean ± std per model, mode and variant over seeds, best in bold, cost ratios."""
    rows = [{**row, "variant": row.get("variant") or ""} for row in rows]  # CSVs from before variants
    done = [row for row in rows if row.get("status") == "ok"]
    keys = ["model", "mode", "variant"]
    ends = {group: stopped_by_label(members) for group, members in group_rows(done, keys).items()}
    done = [{**row, "stopped_by": ends[tuple(row[key] for key in keys)]} for row in done]
    if not any(row["variant"] for row in done):  # no column of blanks
        keys, references = keys[:2], [tuple(reference[:2]) for reference in references]
    failed = [row for row in rows if row.get("status") != "ok"]
    metrics = [key for key in (done[0] if done else {}) if key.startswith(("test_", "valid_"))]
    higher = [key for key in metrics if key.startswith("test_")] + [key for key in metrics if key.startswith("valid_")]
    # The accuracy ratio: NDCG@10 where the runs computed it, else their first test metric.
    tests = [key for key in metrics if key.startswith("test_")]
    accuracy = "test_ndcg@10" if "test_ndcg@10" in tests or not tests else tests[0]
    lower = ["train_seconds_per_epoch", "train_seconds", "inference_seconds", "peak_memory_mb", "parameters"]
    decimals = {
        "train_seconds_per_epoch": 2,
        "train_seconds": 1,
        "inference_seconds": 2,
        "peak_memory_mb": 0,
        "parameters": 0,
        "best_epoch": 1,
    }
    table = summary_table(
        done,
        keys,
        labels=["train_scheme", "stopped_by"],
        higher_is_better=higher,
        lower_is_better=lower,
        plain=["best_epoch"],
        decimals=decimals,
        references=references,
        ratio_columns={
            accuracy: accuracy[len("test_") :].replace("ndcg", "NDCG").replace("hit", "Hit").replace("mrr", "MRR"),
            "train_seconds_per_epoch": "time/epoch",
            "train_seconds": "time to stop",
            "inference_seconds": "inference",
            "peak_memory_mb": "memory",
        },
    )
    kinds = sorted({row.get("peak_memory_kind", "") for row in done} - {""})
    lines = [f"# Comparison on {dataset}", "", table, ""]
    lines.append(
        "Mean ± sample std over seeds (`runs` = finished seeds). Bold: best mean of the column "
        "(higher for metrics, lower for costs)."
        + "".join(
            f" `... vs {reference_label(r)}`: the model's mean over {reference_label(r)}'s."
            for r in references
            if any(tuple(row[key] for key in keys) == tuple(r) for row in done)
        )
    )
    lines.append(
        "Test metrics are those of the epoch with the best validation score; "
        "`train_seconds` = seconds per epoch × epochs run until training ended (early stopping or a cap). "
        "`train_scheme`: HydraRec's "
        "training rows, `sequence` (windows, a target at every position) or `prefix` (RecBole's rows, one "
        "target each); RecBole's models always train per prefix."
    )
    if kinds:
        lines.append(f"Peak memory: {memory_measured(kinds)}.")
    lines.append(_ranking_sentence(done))
    lines.append(
        "`stopped_by`: what ended training — early stopping, or a cap (`epoch cap`: the last epoch; `time "
        "budget`: train_time_budget); a capped run's accuracy is what the cap allowed, not a finished run's."
    )
    cut = [row for row in rows if row.get("status") == "ok" and capped(row)]
    if cut:
        lines += ["", "Runs that hit a cap before early stopping ended them:", ""]
        lines += [
            f"- {reference_label((row['model'], row['mode'], row['variant']))} seed {row['seed']}: "
            + (row.get("stopped_by") or "time budget")
            for row in cut
        ]
    if failed:
        lines += ["", "Failed runs (rerun the same command to retry them):", ""]
        lines += [f"- {row['model']} {row['mode']} seed {row['seed']}: {row.get('error', '')}" for row in failed]
    return "\n".join(lines) + "\n"


def _ranking_sentence(done):
    """Which candidates the test ranked, from the rows themselves (CSVs from before the column: all items)."""
    rankings = sorted({row.get("ranking") or "all items" for row in done})
    if rankings == ["unseen items"]:
        return (
            "Ranking: every item the user had not interacted with before the target (`exclude_seen: True`, the "
            "published SASRec/BERT4Rec protocol on MovieLens); `test_all_items_*` columns rank every item."
        )
    if rankings == ["all items"] or not rankings:
        return (
            "Ranking: every item, the user's earlier items included (RecBole's protocol for sequential models; "
            "`exclude_seen: False`)."
        )
    return "Ranking: rows differ (see the `ranking` column of comparison.csv)."


def settings_section(common, seeds, threads, placement, command, tuned=None, tuned_path=None, budget=None):
    """comparison.md's settings: seeds, threads, `placement` (where the runs went), the training budget
    every row shares, shared and tuned settings."""
    shown = {key: value for key, value in common.items() if key not in ("data_path", "checkpoint_dir")}
    lines = [
        "",
        "## Settings",
        "",
        f"Seeds: {', '.join(str(s) for s in seeds)}; torch threads per run: {threads or 'default'}; {placement}.",
    ]
    if budget:
        lines.append(f"Training budget, the same for every row: {describe_budget(budget)}.")
    lines += [
        "Shared by every model (RecBole's and our model defaults for the rest; per-run files in configs/):",
        "",
    ]
    lines += [f"- `{key}`: `{json.dumps(plain(value))}`" for key, value in sorted(shown.items())]
    if tuned:
        lines += ["", f"Tuned per model (each model's best config on validation, from {tuned_path}):", ""]
        lines += [
            f"- {reference_label(search)}: "
            + ", ".join(f"`{key}`: `{json.dumps(plain(value))}`" for key, value in sorted(config.items()))
            for search, config in tuned.items()
        ]
    lines += ["", "Command:", "", f"    {command}", ""]
    return "\n".join(lines)


def plot(rows, path, metric):
    """Test metric against training time per model and mode: one point per seed, mean with std bars."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install 'recbole-hydra[plot]')", file=sys.stderr)
        return None
    done = [
        {**row, "variant": row.get("variant") or "", "train_scheme": row.get("train_scheme") or ""}
        for row in rows
        if row.get("status") == "ok" and row.get(metric) not in (None, "")
    ]
    figure, axes = plt.subplots(figsize=(6.4, 4.4))
    for key, members in group_rows(done, ["model", "mode", "variant", "train_scheme"]).items():
        xs = [float(row["train_seconds"]) for row in members]
        ys = [float(row[metric]) for row in members]
        (x, x_std), (y, y_std) = mean_std(xs), mean_std(ys)
        label = reference_label(key)
        points = axes.scatter(xs, ys, alpha=0.35, s=18)
        axes.errorbar(
            x, y, xerr=x_std, yerr=y_std, fmt="o", color=points.get_facecolor()[0][:3], capsize=3, label=label
        )
    axes.set_xlabel("training time until early stopping (s)")
    axes.set_ylabel(metric.replace("test_", "test "))
    axes.set_title("Accuracy against training time (mean ± std over seeds)")
    axes.grid(alpha=0.3)
    if done:
        axes.legend(fontsize="small")
    figure.tight_layout()
    with replaced_atomically(path) as temporary:
        figure.savefig(temporary, dpi=120, format="png")
    plt.close(figure)
    return path


def write_reports(rows, output_dir, dataset, settings_text, metric, references=()):
    text = markdown_summary(rows, dataset, references) + settings_text
    write_atomic(os.path.join(output_dir, TABLE_NAME), text)
    plot(rows, os.path.join(output_dir, PLOT_NAME), metric)
    return text
