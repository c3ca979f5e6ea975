"""One training budget for every row of a table, and the words tables use for it.

A comparison is fair only if every model may train as long: the same maximum epochs, the same
patience and evaluation cadence, and the same training seconds where a time budget is set.
`compare` (and `claims`, which is a compare) refuses a grid whose rows would resolve any of these
differently, whether a row spec, a tuned config or a model's own defaults set them; every table
then states the one rule, and each row says what ended it (runtime/training.py's STOPPED_BY).
"""

from recbole_hydra.config_errors import ConfigError
from recbole_hydra.runtime.training import STOPPED_BY

# RecBole stops after `stopping_step` + 1 evaluations without a better validation score (cur_step > stopping_step).
BUDGET_KEYS = ("epochs", "stopping_step", "eval_step", "train_time_budget")


def budget_of(config):
    """The budget keys as a run resolves them (a RecBole Config or a dict of settings)."""
    return {key: config[key] for key in BUDGET_KEYS}


def check_one_budget(budgets):
    """`budgets`: {row label: budget_of(its config)}. Every row must have the same; returns it.

    The error names a row that differs from the budget most rows share (the first row's on a tie).
    """
    labels = list(budgets)
    if not labels:
        return {}
    keys = [tuple(budgets[label][key] for key in BUDGET_KEYS) for label in labels]
    usual = labels[max(range(len(labels)), key=lambda i: (keys.count(keys[i]), -i))]
    shared = budgets[usual]
    for label in labels:
        differing = [key for key in BUDGET_KEYS if budgets[label][key] != shared[key]]
        if differing:
            detail = ", ".join(f"{key}={budgets[label][key]!r} where {usual} has {shared[key]!r}" for key in differing)
            raise ConfigError(
                f"every row of one table gets the same training budget ({', '.join(BUDGET_KEYS)}), but {label} has "
                f"{detail}; set them once for all rows (--epochs=E --stopping_step=P ...), not per model"
            )
    return shared


def describe_budget(budget):
    """The rule in one sentence, e.g. for comparison.md and claims.md."""
    every = budget.get("eval_step") or 1
    cadence = "every epoch" if every == 1 else f"every {every} epochs"
    text = (
        f"at most {budget['epochs']} epochs, validation {cadence}, early stopping after "
        f"{budget['stopping_step'] + 1} validations without a better score (stopping_step {budget['stopping_step']})"
    )
    if budget.get("train_time_budget"):
        text += f", and at most {budget['train_time_budget']:g} s of training (train_time_budget)"
    return text


def stopped_by_label(rows):
    """What ended a group's runs: 'early stopping', or the caps with their counts, e.g. 'epoch cap (1 of 3)'.

    Rows from CSVs written before runs recorded it say 'not recorded' (or 'time budget' where they were capped).
    """
    ends = [row.get("stopped_by") or ("time budget" if row.get("budget_capped") else "not recorded") for row in rows]
    counts = {end: ends.count(end) for end in (*STOPPED_BY, "not recorded") if end in ends}
    if len(counts) == 1:
        return next(iter(counts))
    return ", ".join(f"{end} ({count} of {len(ends)})" for end, count in counts.items())


def capped(row):
    """Whether a finished row's training was cut by a cap (its accuracy is what the cap allowed)."""
    return row.get("stopped_by") in ("epoch cap", "time budget") or bool(row.get("budget_capped"))
