"""The table of default choices (docs/training.md): every candidate setting on every dataset.

Rows are (mode, mixer, change from the defaults); columns are datasets. A cell is the validation
NDCG@10 that choices are made on, the test NDCG@10 in brackets (reported, never chosen on), and the
change in validation over the same mode and mixer at the defaults on the same dataset. A dataset's
column may draw on several result folders of `compare`; they must share one training budget, one
ranking protocol and one history length N (where a row's own change does not set it), or its cells
would not be comparable, so a mismatch is an error naming the folders.
"""

import os

from recbole_hydra.config_errors import ConfigError
from recbole_hydra.experiments.grids.budget import describe_budget
from recbole_hydra.experiments.reports.claims_report import resolved_budget, resolved_config
from recbole_hydra.experiments.reports.tables import format_table, mean_of, read_rows, write_rows
from recbole_hydra.files import write_atomic

VALID = "valid_ndcg@10"
TEST = "test_ndcg@10"
CAPS = ("epoch cap", "time budget")


def candidate_of(row):
    """(mode, mixer, change): 'attention=softmax:learning_rate=0.002' → ('causal', 'softmax', 'learning_rate=0.002').

    RecBole's own models are their own mixer, with no mode; the change is '' at the defaults.
    """
    if row["model"] != "HydraRec":
        return "", row["model"], row.get("variant") or ""
    parts = [part for part in (row.get("variant") or "").split(":") if part]
    mixer = next((part.partition("=")[2] for part in parts if part.startswith("attention=")), "hydra")
    change = ":".join(sorted(part for part in parts if not part.startswith("attention=")))
    return row["mode"], mixer, change


def dataset_runs(dataset, folders):
    """The finished runs of one dataset's folders, one per (candidate, seed), with their shared budget, ranking and N.

    A run found in two folders (the defaults rerun beside new candidates) is counted once: the first folder's.
    """
    runs, budgets, rankings, lengths = {}, {}, {}, {}
    for folder in folders:
        csv_path = os.path.join(folder, "comparison.csv")
        if not os.path.isfile(csv_path):
            raise ConfigError(f"{dataset}: no comparison.csv in {folder} (expected a result folder of compare)")
        rows = [row for row in read_rows(csv_path) if row.get("status") == "ok"]
        if not rows:
            continue
        budgets[folder] = resolved_budget(rows, folder)
        rankings[folder] = _one(dataset, folder, "ranking", {row.get("ranking") or "all items" for row in rows})
        # a candidate may change N itself; the rest of a folder's rows must share it
        unchanged = [row for row in rows if "MAX_ITEM_LIST_LENGTH=" not in row["variant"]]
        lengths[folder] = _one(dataset, folder, "MAX_ITEM_LIST_LENGTH", {_history_length(r, folder) for r in unchanged})
        for row in rows:
            runs.setdefault((candidate_of(row), row["seed"]), {**row, "folder": folder})
    rules = {folder: describe_budget(budget) if budget else "not recorded" for folder, budget in budgets.items()}
    for what, by_folder in (("training budget", rules), ("ranking", rankings), ("MAX_ITEM_LIST_LENGTH", lengths)):
        if len(set(by_folder.values())) > 1:
            detail = "; ".join(f"{folder}: {value}" for folder, value in by_folder.items())
            raise ConfigError(
                f"{dataset}: its folders differ in {what}, so their rows cannot share a column ({detail})"
            )
    budget = next(iter(budgets.values()), None)
    ranking = next(iter(rankings.values()), "")
    return list(runs.values()), budget, ranking, next(iter(lengths.values()), None)


def _history_length(row, folder):
    """The N a run resolved; None where its resolved config is missing."""
    return (resolved_config(row, folder) or {}).get("MAX_ITEM_LIST_LENGTH")


def _one(dataset, folder, what, values):
    """The one value a folder's runs share; an error naming the folder if they differ."""
    if len(values) > 1:
        listed = ", ".join(sorted(map(str, values)))
        raise ConfigError(f"{dataset}: the runs in {folder} differ in {what} ({listed}), so they cannot share a column")
    return next(iter(values), None)


def summarise(dataset, runs):
    """One row per candidate: seeds, mean validation and test, what ended the runs, change over the defaults.

    The change compares like with like: the candidate's and the defaults' mean validation over the seeds both ran.
    """
    by_candidate = {}
    for run in runs:
        by_candidate.setdefault(candidate_of(run), []).append(run)
    rows = []
    for (mode, mixer, change), group in by_candidate.items():
        rows.append(
            {
                "dataset": dataset,
                "mode": mode,
                "mixer": mixer,
                "change": change,
                "seeds": len(group),
                VALID: mean_of(group, VALID),
                TEST: mean_of(group, TEST),
                "capped": sum(run.get("stopped_by") in CAPS for run in group),
                "folders": " ".join(sorted({run["folder"] for run in group})),
            }
        )
    for row in rows:
        default_runs = {run["seed"]: run for run in by_candidate.get((row["mode"], row["mixer"], ""), [])}
        shared = [
            run for run in by_candidate[(row["mode"], row["mixer"], row["change"])] if run["seed"] in default_runs
        ]
        baseline = mean_of([default_runs[run["seed"]] for run in shared], VALID) if shared else None
        row["valid_vs_defaults"] = mean_of(shared, VALID) / baseline - 1 if baseline else None
    return rows


def _cell(row, best):
    text = f"{row[VALID]:.4f} ({row[TEST]:.4f})"
    if row["change"] and row["valid_vs_defaults"] is not None:
        text += f" {row['valid_vs_defaults']:+.0%}"
    if row["seeds"] > 1:
        text += f" ×{row['seeds']} seeds"
    if row["capped"]:
        text += " cap"
    return f"**{text}**" if best else text


def candidates_markdown(summaries, notes):
    """The table (rows: candidates; columns: datasets) and a line per dataset on its budget, ranking and folders."""
    datasets = list(dict.fromkeys(row["dataset"] for row in summaries))
    order = list(dict.fromkeys((row["mode"], row["mixer"], row["change"]) for row in summaries))
    # causal, then bidirectional, then RecBole's models; Hydra before the other mixers; the defaults first
    order.sort(key=lambda key: (key[0] == "", key[0] != "causal", key[1] != "hydra", key[1], key[2] != "", key[2]))
    best = {}
    for row in summaries:
        group = (row["dataset"], row["mode"], row["mixer"])
        if group not in best or row[VALID] > best[group][VALID]:
            best[group] = row
    cells = {(row["dataset"], row["mode"], row["mixer"], row["change"]): row for row in summaries}
    table = []
    for mode, mixer, change in order:
        line = {"mode": mode or "-", "mixer": mixer, "change from the defaults": change or "(defaults)"}
        for dataset in datasets:
            row = cells.get((dataset, mode, mixer, change))
            line[dataset] = _cell(row, best[(dataset, mode, mixer)] is row) if row else ""
        table.append(line)
    lines = [
        "# Candidate defaults on every dataset",
        "",
        format_table(table, list(table[0])) if table else "(no finished runs)",
        "",
        "Validation NDCG@10, the score choices are made on; test NDCG@10 in brackets, reported and never "
        "chosen on; then the change in validation over the same mode and mixer at the defaults on that "
        "dataset, over the seeds both ran. Bold: the best validation score of its mode and mixer on that "
        "dataset. One seed unless the cell says more (then means over seeds); 'cap': a run that a cap "
        "ended, not early stopping. '(defaults)': no change from the defaults of the code that ran it, "
        "which may differ from today's (each folder's configs/ has every run's settings). Mode '-': "
        "RecBole's own models, reference rows for the same budget, their change counted from RecBole's defaults.",
        "",
    ]
    lines += [f"- **{dataset}**: {note}" for dataset, note in notes.items()]
    return "\n".join(lines) + "\n"


def write_candidates_report(folders_by_dataset, md_path):
    """{dataset: [result folders]} → the markdown table at md_path, and its rows beside it as .csv."""
    summaries, notes = [], {}
    for dataset, folders in folders_by_dataset.items():
        runs, budget, ranking, length = dataset_runs(dataset, folders)
        summaries += summarise(dataset, runs)
        rule = describe_budget(budget) if budget else "budget not recorded"
        notes[dataset] = f"{rule}; ranking {ranking or 'not recorded'}; N = {length}; from {', '.join(folders)}."
    write_atomic(md_path, candidates_markdown(summaries, notes))
    csv_path = os.path.splitext(md_path)[0] + ".csv"
    write_rows(csv_path, summaries)
    return md_path, csv_path
