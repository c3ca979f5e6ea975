"""The stream benchmark's rows (benchmarks/stream_bench.py) into files: DIR/stream.md and DIR/stream.csv."""

import csv
import io
import os

from recbole_hydra.experiments.reports.tables import format_table
from recbole_hydra.files import write_atomic

COLUMNS = [
    "history",
    "update_ms",
    "recompute_ms",
    "recompute_window",
    "speedup",
    "recommend_users_per_s",
    "max_abs_diff",
]


def write_report(rows, notes, output):
    """DIR/stream.md (the table and its notes) and DIR/stream.csv, each written atomically; returns the table."""
    table = format_table(rows, COLUMNS, float_digits=3)
    os.makedirs(output, exist_ok=True)
    write_atomic(os.path.join(output, "stream.md"), table + "\n\n" + "".join(f"- {note}\n" for note in notes))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(os.path.join(output, "stream.csv"), buffer.getvalue())
    return table
