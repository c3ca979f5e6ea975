"""Validation score against training time, read from RecBole's own log files (`run_hydrarec.py curves`).

RecBole logs every epoch's training seconds and validation score:

    ... INFO  epoch 12 training [time: 98.26s, train loss: 1203.5]
    ... INFO  epoch 12 evaluating [time: 9.10s, valid_score: 0.174500]

A curve is (cumulative training seconds, validation score) after each evaluated epoch: training time
only, as the tables count it. A run resumed after an interruption has several log files; given in
order, they make one curve (an epoch logged twice keeps its last record).
"""

import re
import sys

from recbole_hydra.experiments.reports.tables import write_rows

_TRAINING = re.compile(r"epoch (\d+) training \[time: ([\d.]+)s")
_EVALUATION = re.compile(r"epoch (\d+) evaluating \[time: [\d.]+s, valid_score: ([\d.]+)\]")


def read_curve(log_files):
    """[(epoch, cumulative training seconds, validation score)] from one run's RecBole log files, in order."""
    seconds, scores = {}, {}
    for path in log_files:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if match := _TRAINING.search(line):
                    seconds[int(match[1])] = float(match[2])
                elif match := _EVALUATION.search(line):
                    scores[int(match[1])] = float(match[2])
    curve, total = [], 0.0
    for epoch in sorted(seconds):
        total += seconds[epoch]
        if epoch in scores:
            curve.append((epoch, total, scores[epoch]))
    return curve


def write_curves(curves, png_path, csv_path, title):
    """curves: {label: curve}. A PNG of score against seconds, and the points as CSV."""
    rows = [
        {"run": label, "epoch": epoch, "train_seconds": seconds, "valid_score": score}
        for label, curve in curves.items()
        for epoch, seconds, score in curve
    ]
    write_rows(csv_path, rows)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install 'recbole-hydra[plot]')", file=sys.stderr)
        return None
    figure, axes = plt.subplots(figsize=(7.0, 4.6))
    for label, curve in curves.items():
        if curve:
            _, seconds, scores = zip(*curve)
            axes.plot([s / 3600 for s in seconds], scores, marker=".", markersize=3, label=label)
    axes.set_xlabel("training time (hours; evaluation left out)")
    axes.set_ylabel("validation score")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(png_path, dpi=120)
    plt.close(figure)
    return png_path
