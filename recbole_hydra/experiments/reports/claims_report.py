"""claims.md: the claims grid's rows in one table, each mixer at the batch size its validation score prefers.

comparison.md lists every row of the grid. When the grid tries several batch sizes (`claims
--batch-sizes`), a fair verdict compares each mixer at its own best size, chosen on the mean
validation score over seeds (never on test), as a user tuning that mixer would. Ratios are over
the softmax control of the same mode, itself at its chosen size; RecBole's peers (no mode) are
compared with the causal control.
"""

import os

from recbole_hydra.experiments.grids.budget import BUDGET_KEYS, describe_budget, stopped_by_label
from recbole_hydra.experiments.reports.comparison_report import memory_measured
from recbole_hydra.experiments.reports.tables import format_table, group_rows, mean_of, mean_std, read_rows
from recbole_hydra.files import load_yaml, write_atomic

CLAIMS_NAME = "claims.md"
VALID = "valid_ndcg@10"
TEST = ("test_ndcg@10", "test_hit@10", "test_mrr@10")


def _parts(variant):
    """'attention=linrec:train_batch_size=128' → {'attention': 'linrec', 'train_batch_size': '128'}."""
    return dict(part.partition("=")[::2] for part in variant.split(":")) if variant else {}


def _candidate(row):
    """(model, mode, what the row is apart from its batch size): rows that differ only in batch size share it."""
    parts = _parts(row["variant"])  # choose_batch_sizes has filled in a blank for CSVs from before variants
    parts.pop("train_batch_size", None)
    return row["model"], row["mode"], ":".join(f"{key}={value}" for key, value in parts.items())


def choose_batch_sizes(rows):
    """{candidate: the runs of its batch size with the best mean validation score}, in first-seen order.

    Only the skeleton's rows have batch variants; every other row is its own single choice.
    """
    done = [{**row, "variant": row.get("variant") or ""} for row in rows if row.get("status") == "ok"]
    options = {}
    for runs in group_rows(done, ["model", "mode", "variant"]).values():
        options.setdefault(_candidate(runs[0]), []).append(runs)
    return {candidate: max(sizes, key=lambda runs: mean_of(runs, VALID)) for candidate, sizes in options.items()}


def _label(model, variant):
    if model != "HydraRec":
        return model
    parts = _parts(variant)
    mixer = parts.pop("attention", "hydra")
    rest = ", ".join(f"{key}={value}" for key, value in parts.items())
    return f"`{mixer}`" + (f" ({rest})" if rest else "") + (" (control)" if mixer == "softmax" else "")


def _cell(runs, column, digits):
    mean, std = mean_std(run[column] for run in runs)
    return f"{mean:.{digits}f}" + ("" if std is None else f" ± {std:.{digits}f}")


def _ratio(runs, control, column):
    if not control:
        return "-"
    return f"{mean_of(runs, column) / mean_of(control, column):.2f}×"


def _skeleton_rows(chosen, mixer):
    """{mode: the chosen runs of HydraRec's skeleton with `mixer` and nothing else changed}."""
    found = {}
    for (model, mode, rest), runs in chosen.items():
        parts = _parts(rest)
        if model == "HydraRec" and parts.get("attention", "hydra") == mixer and set(parts) <= {"attention"}:
            found[mode] = runs
    return found


def _chosen_in_order(rows):
    """[(candidate, runs, the control's runs, Hydra's runs)] for its mode (peers: causal), causal rows first,
    the skeleton before RecBole's peers."""
    chosen = choose_batch_sizes(rows)
    controls, hydras = _skeleton_rows(chosen, "softmax"), _skeleton_rows(chosen, "hydra")
    order = sorted(chosen.items(), key=lambda item: (item[0][1] == "bidirectional", item[0][0] != "HydraRec"))
    lines = []
    for candidate, runs in order:
        mode = "causal" if candidate[1] == "-" else candidate[1]
        lines.append((candidate, runs, controls.get(mode), hydras.get(mode)))
    return lines


def _seeds_above(runs, other, column="test_ndcg@10"):
    """'k of n': on how many of the n seeds both finished `runs` scored above `other` in `column`
    ('-' where either is missing or they are the same row)."""
    if runs is None or other is None or runs is other:
        return "-"
    theirs = {run["seed"]: float(run[column]) for run in other}
    shared = [run for run in runs if run["seed"] in theirs]
    if not shared:
        return "-"
    return f"{sum(float(run[column]) > theirs[run['seed']] for run in shared)} of {len(shared)}"


def per_seed_table(rows):
    """Each chosen row's test and validation NDCG@10 seed by seed; on how many seeds it beat the control of its
    mode, and HydraRec beat it."""
    lines = _chosen_in_order(rows)
    seeds = sorted({run["seed"] for _, runs, _, _ in lines for run in runs}, key=int)
    table = []
    for (model, mode, rest), runs, control, hydra in lines:
        by_seed = {run["seed"]: run for run in runs}
        cells = {
            f"seed {seed}": (
                f"{float(by_seed[seed]['test_ndcg@10']):.4f} ({float(by_seed[seed][VALID]):.4f})"
                if seed in by_seed
                else "not finished"
            )
            for seed in seeds
        }
        table.append(
            {
                "model": _label(model, rest),
                "mode": "causal" if mode == "-" else mode,
                **cells,
                "test above the control": _seeds_above(runs, control),
                "`hydra` above this row": _seeds_above(hydra, runs),
            }
        )
    return format_table(table, list(table[0])) if table else "(no finished runs yet)"


def claims_table(rows):
    """The markdown table of the chosen rows, causal first, with ratios over each mode's chosen control."""
    table = []
    for (model, mode, rest), runs, control, _ in _chosen_in_order(rows):
        table.append(
            {
                "model": _label(model, rest),
                "mode": "causal" if mode == "-" else mode,
                "batch": _parts(runs[0].get("variant") or "").get("train_batch_size", "default"),
                "seeds": len(runs),
                **{column: _cell(runs, column, 4) for column in (*TEST, VALID)},
                "s / epoch": _cell(runs, "train_seconds_per_epoch", 1),
                "s to stop": _cell(runs, "train_seconds", 0),
                "stopped by": stopped_by_label(runs),
                "peak MB": _cell(runs, "peak_memory_mb", 0),
                "NDCG@10 vs control": _ratio(runs, control, "test_ndcg@10"),
                "epoch time vs control": _ratio(runs, control, "train_seconds_per_epoch"),
                "time to stop vs control": _ratio(runs, control, "train_seconds"),
                "peak memory vs control": _ratio(runs, control, "peak_memory_mb"),
            }
        )
    return format_table(table, list(table[0])) if table else "(no finished runs yet)"


def resolved_config(row, output_dir):
    """The settings a run of a compare folder resolved (configs/<run>.resolved.yaml); None where not written."""
    config_file = row.get("config_file") or ""
    resolved = os.path.join(output_dir, config_file.replace(".yaml", ".resolved.yaml"))
    return load_yaml(resolved) if config_file and os.path.isfile(resolved) else None


def resolved_budget(rows, output_dir):
    """The budget the finished runs resolved (from configs/<run>.resolved.yaml), or None if unreadable."""
    for row in rows:
        config = resolved_config(row, output_dir) if row.get("status") == "ok" else None
        # train_time_budget is ours and off by default: a resolved file may leave it out
        if config and all(key in config for key in BUDGET_KEYS if key != "train_time_budget"):
            return {key: config.get(key) for key in BUDGET_KEYS}
    return None


def claims_markdown(rows, dataset, budget=None):
    rule = (
        f"Training budget, the same for every row: {describe_budget(budget)}."
        if budget
        else "Training budget: see comparison.md."
    )
    return "\n".join(
        [
            f"# The paper's claims on {dataset}",
            "",
            claims_table(rows),
            "",
            rule,
            "",
            "Mean ± sample std over seeds. `batch`: training rows a batch (windows for HydraRec, prefixes "
            f"for RecBole's models), the size with the best mean validation score ({VALID}) among those "
            "the grid tried for that model; 'default': the mode's default. Ratios are over the softmax "
            "control of the same mode at its chosen size; RecBole's peers without a mode are compared "
            "with the causal control. `s to stop`: training seconds until the run ended; `stopped by` says "
            "what ended it: early stopping, or a cap (the last epoch, or train_time_budget), in which case "
            "the run's accuracy is what the cap allowed. `peak MB`: "
            + memory_measured({row.get("peak_memory_kind") for row in rows if row.get("status") == "ok"} - {"", None})
            + ". Every row and column: comparison.md.",
            "",
            "## Seed by seed",
            "",
            per_seed_table(rows),
            "",
            "Test NDCG@10 (validation NDCG@10) of each run of the rows above. The last two columns count the "
            "seeds that both rows finished: on how many this row's test NDCG@10 was above the softmax control's "
            "of its mode, and on how many HydraRec's (`hydra`, same mode; RecBole's peers without a mode: causal) "
            "was above this row's.",
            "",
        ]
    )


def write_claims_report(csv_path, md_path, dataset):
    """claims.md from the grid's comparison.csv (nothing if no run has finished)."""
    rows = read_rows(csv_path)
    if not any(row.get("status") == "ok" for row in rows):
        return None
    budget = resolved_budget(rows, os.path.dirname(os.path.abspath(csv_path)))
    write_atomic(md_path, claims_markdown(rows, dataset, budget))
    return md_path
