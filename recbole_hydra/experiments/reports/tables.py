"""Result rows into tables: the one place that formats what runs produce (markdown, CSV, durations),
and the command line that made a result folder."""

import csv
import io
import os
import sys
import time

from recbole_hydra.files import write_atomic


def format_elapsed(seconds):
    """Seconds as H:MM:SS, for progress lines."""
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def format_table(rows, columns, float_digits=4):
    """A GitHub-markdown table of `rows` (dicts) restricted to `columns`, aligned for terminals."""

    def cell(value):
        if isinstance(value, float):
            return f"{value:.{float_digits}f}"
        return "" if value is None else str(value)

    body = [[cell(row.get(column)) for column in columns] for row in rows]
    widths = [max([len(column)] + [len(line[i]) for line in body]) for i, column in enumerate(columns)]
    lines = [
        "| " + " | ".join(column.ljust(width) for column, width in zip(columns, widths)) + " |",
        "|" + "|".join("-" * (width + 2) for width in widths) + "|",
    ]
    lines += ["| " + " | ".join(text.ljust(width) for text, width in zip(line, widths)) + " |" for line in body]
    return "\n".join(lines)


def metrics_table(valid_result, test_result):
    """One row per metric with its validation and test value."""
    names = list(test_result) or list(valid_result)
    rows = [{"metric": name, "valid": valid_result.get(name), "test": test_result.get(name)} for name in names]
    return format_table(rows, ["metric", "valid", "test"])


def mean_std(values):
    """(mean, sample standard deviation) of the numbers in `values`; std is None below two values."""
    values = [float(value) for value in values]
    if not values:
        return None, None
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, (sum((value - mean) ** 2 for value in values) / (len(values) - 1)) ** 0.5


def mean_of(rows, column):
    """The mean of one column over `rows` (None if there are none)."""
    return mean_std(row[column] for row in rows)[0]


def _number(value):
    """A float from a row cell (rows read back from CSV hold strings); None if it is not a number."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def group_rows(rows, keys):
    """{key tuple: [rows]} in first-seen order."""
    groups = {}
    for row in rows:
        groups.setdefault(tuple(row[key] for key in keys), []).append(row)
    return groups


def reference_label(reference):
    """('SASRec', 'causal', '') → 'SASRec causal'; empty and '-' parts are left out."""
    return " ".join(str(part) for part in reference if part not in ("", "-"))


def summary_table(
    rows,
    keys,
    higher_is_better=(),
    lower_is_better=(),
    plain=(),
    decimals=None,
    references=(),
    ratio_columns=(),
    labels=(),
):
    """Markdown table: one line per group of `keys`, mean ± std over the group's rows per column.

    `labels`: text columns that are the same for a whole group, shown after the keys.
    The best mean of each `higher_is_better` / `lower_is_better` column is in bold. For each of
    `references` (key tuples) present in the rows, each of `ratio_columns` ({column: header}) gets
    a column '<header> vs <reference>': the group's mean over the reference group's mean.
    """
    decimals = decimals or {}
    value_columns = list(higher_is_better) + list(lower_is_better) + list(plain)
    groups = group_rows(rows, keys)
    means = {}
    for group, members in groups.items():
        for column in value_columns:
            numbers = [n for n in (_number(member.get(column)) for member in members) if n is not None]
            means[group, column] = mean_std(numbers)

    def best(column, pick):
        candidates = [means[g, column][0] for g in groups if means[g, column][0] is not None]
        return pick(candidates) if candidates else None

    best_of = {column: best(column, max) for column in higher_is_better}
    best_of.update({column: best(column, min) for column in lower_is_better})
    ratio_columns = dict(ratio_columns)
    # (reference, column, header) for every reference that has rows to divide by
    ratios = [
        (reference, column, f"{header} vs {reference_label(reference)}")
        for reference in references
        if reference in groups
        for column, header in ratio_columns.items()
        if column in value_columns  # a metric the runs did not compute gets no ratio
    ]

    out_rows = []
    for group, members in groups.items():
        out = dict(zip(keys, group))
        out.update({column: members[0].get(column) or "" for column in labels})
        out["runs"] = len(members)
        for column in value_columns:
            mean, std = means[group, column]
            if mean is None:
                out[column] = "-"
                continue
            digits = decimals.get(column, 4)
            text = f"{mean:.{digits}f}" + ("" if std is None else f" ± {std:.{digits}f}")
            is_best = column in best_of and best_of[column] is not None and len(groups) > 1
            out[column] = f"**{text}**" if is_best and mean == best_of[column] else text
        for reference, column, header in ratios:
            mean, reference_mean = means[group, column][0], means[reference, column][0]
            ok = mean is not None and reference_mean
            out[header] = f"{mean / reference_mean:.2f}×" if ok else "-"
        out_rows.append(out)
    columns = list(keys) + list(labels) + ["runs"] + value_columns + [header for _, _, header in ratios]
    return format_table(out_rows, columns)


def read_rows(path):
    """The rows of a CSV file as dicts of strings; [] when the file does not exist yet."""
    if not os.path.exists(path):
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_rows(path, rows, first=(), last=()):
    """All `rows` to a CSV file, atomically: `first` columns, the others in first-seen order, `last`."""
    seen = []
    for row in rows:
        seen += [key for key in row if key not in seen]
    middle = [key for key in seen if key not in set(first) | set(last)]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(first) + middle + list(last), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, buffer.getvalue())


def record_command(output_dir, command=None):
    """Append `command` (default: this process's own command line) to DIR/command.txt with the time,
    one line per start: how a result folder came to be. Returns the command."""
    command = command or " ".join(sys.argv)
    with open(os.path.join(output_dir, "command.txt"), "a", encoding="utf-8") as f:
        f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')}  {command}\n")
    return command
