"""Result rows into tables: the one place that formats what runs produce."""


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
