"""Build runs.csv (one row per run) and table.md (mean ± std per row) of this folder from its
RecBole logs (log/HydraRec/*.log: epochs and seconds) and interim/*.json (each unfinished run's
best checkpoint tested by ../ml-1m-n200/evaluate_best.py). Run from this folder: python summarize.py

It reads the logs with its own two patterns, those of recbole_hydra/experiments/reports/curves.py
(which drops evaluation seconds), so that it runs without the package installed."""

import csv
import glob
import json
import re
import statistics

ROWS = {  # (attention, bidirectional) -> the row's name, in the CPU table's order
    ("hydra", "False"): "Hydra causal (dropout 0.2)",
    ("softmax", "False"): "softmax control causal (dropout 0.2)",
    ("hydra", "True"): "Hydra bidirectional",
    ("softmax", "True"): "softmax control bidirectional",
}


def setting(text, key):
    return re.search(rf"^{key}\s*=\s*(\S+)", text, re.M).group(1)


def interim_for(saved_path):
    name = saved_path.rsplit("/", 1)[1].removesuffix(".pth")
    return json.load(open(f"interim/interim-{name}.json"))


runs = []
for path in sorted(glob.glob("log/HydraRec/*.log")):
    text = open(path).read()
    train = [float(s) for s in re.findall(r"epoch \d+ training \[time: ([\d.]+)s", text)]
    evaluate = [float(s) for s in re.findall(r"epoch \d+ evaluating \[time: ([\d.]+)s", text)]
    saved = re.search(r"Saving current: (\S+?\.pth)", text).group(1)
    result = interim_for(saved)
    runs.append(
        {
            "row": ROWS[(setting(text, "attention"), setting(text, "bidirectional"))],
            "seed": int(setting(text, "seed")),
            "epochs_run": len(evaluate),
            "train_seconds_per_epoch": statistics.mean(train),
            "eval_seconds_per_epoch": statistics.mean(evaluate),
            "best_valid_ndcg@10": result["valid"]["ndcg@10"],
            "test_ndcg@10": result["test"]["ndcg@10"],
            "test_hit@10": result["test"]["hit@10"],
            "test_all_items_ndcg@10": result["test_all_items"]["ndcg@10"],
            "test_all_items_hit@10": result["test_all_items"]["hit@10"],
            "log": path,
        }
    )

runs.sort(key=lambda r: (list(ROWS.values()).index(r["row"]), r["seed"]))
with open("runs.csv", "w", newline="") as out:
    writer = csv.DictWriter(out, fieldnames=list(runs[0]))
    writer.writeheader()
    writer.writerows(runs)

columns = [
    "epochs_run",
    "train_seconds_per_epoch",
    "best_valid_ndcg@10",
    "test_ndcg@10",
    "test_hit@10",
    "test_all_items_ndcg@10",
    "test_all_items_hit@10",
]
lines = ["| row | seeds | " + " | ".join(columns) + " |", "|---" * (len(columns) + 2) + "|"]
for row in ROWS.values():
    mine = [r for r in runs if r["row"] == row]
    cells = []
    for column in columns:
        values = [r[column] for r in mine]
        if column == "epochs_run":
            cells.append(f"{min(values)}–{max(values)}" if min(values) != max(values) else str(values[0]))
        elif column.endswith("per_epoch"):
            cells.append(f"{statistics.mean(values):.1f}")
        else:
            cells.append(f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}")
    lines.append(f"| {row} | {len(mine)} | " + " | ".join(cells) + " |")
open("table.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
