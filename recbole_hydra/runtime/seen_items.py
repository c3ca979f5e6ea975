"""`exclude_seen`: rank only the items a user has not interacted with before the target.

RecBole ranks every item for a sequential model: an item the user has already interacted with
stays a candidate (RecBole's protocol for sequential models, and ours by default). The published
SASRec/BERT4Rec numbers on MovieLens (SASRec+, gSASRec, eSASRec) remove them from the ranking.
With `exclude_seen: True` an evaluation row ranks all items but those of the user's events before
its target, in the dataset's time order: the whole history, not only the last N items in the row.

No validation or test item leaks into the set: a validation row's seen items are the events before
the validation event (the test event comes later); a test row's include the validation event, which
the user has by then. A target the user had already seen (a repeat) is excluded as well and can
never be hit, as in the published protocol: on data with repeat consumption read the numbers so.

How: when RecBole turns a sequential dataset's events into rows (`data_augmentation`), every row
keeps the index of its target event (`TARGET_EVENT`) and the dataset keeps each event's item
(`SeenHistory`); the full-ranking loader then hands RecBole's trainer the (row, item) pairs to mask,
the same `history_index` it uses for general recommenders. `runtime/patches.py` installs both hooks.

Shapes: E events (sorted by user, then time), R rows, S seen (row, item) pairs.
"""

import contextlib

import numpy as np
import torch
from recbole.data.interaction import Interaction

TARGET_EVENT = "_hydrarec_target_event"  # a row's target event: an index into SeenHistory's events


def excluding_seen(config):
    """Whether this run ranks only unseen items (the key is ours; RecBole reads a missing one as None)."""
    return bool(config["exclude_seen"])


def ranking_name(config):
    """How a run's ranking is named in its rows and tables."""
    return "unseen items" if excluding_seen(config) else "all items"


@contextlib.contextmanager
def seen_items_ranked(config):
    """Within the block, evaluations rank every item (RecBole's protocol), whatever `exclude_seen` says."""
    before = config["exclude_seen"]
    config["exclude_seen"] = False
    try:
        yield
    finally:
        config["exclude_seen"] = before


class SeenHistory:
    """Every event's item id, and the index of its user's first event, in the dataset's sorted order."""

    def __init__(self, users, items):
        users, items = np.asarray(users), np.asarray(items)  # (E,), (E,), sorted by user then time
        starts_user = np.r_[True, users[1:] != users[:-1]] if len(users) else np.zeros(0, dtype=bool)
        self.items = torch.as_tensor(items, dtype=torch.long)  # (E,)
        self.first_event = np.maximum.accumulate(np.where(starts_user, np.arange(len(users)), 0))  # (E,)
        # RecBole's sequential rows, in its order: one per event but a user's first, each that event's target.
        self.row_targets = np.flatnonzero(~starts_user)

    def index(self, target_events):
        """(rows (S,), items (S,)): for each row r, every item of its user's events before target_events[r]."""
        targets = np.asarray(target_events, dtype=np.int64)  # (R,)
        first = self.first_event[targets]
        counts = targets - first  # (R,) events before each target
        rows = np.repeat(np.arange(len(targets)), counts)  # (S,)
        # Event positions first[r], first[r] + 1, ..., targets[r] - 1, for every row at once.
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        events = np.repeat(first, counts) + offsets
        return torch.from_numpy(rows), self.items[events]


def keep_target_events(dataset, rows, history):
    """Remember `history` on the dataset and each row's target event in its TARGET_EVENT field.

    `rows` are the dataset's sequential rows as RecBole builds them from the sorted events: one per
    event but a user's first (history.row_targets), in that order.
    """
    if len(rows) != len(history.row_targets):
        raise RuntimeError(
            f"exclude_seen: {len(rows)} sequential rows for {len(history.row_targets)} target events; "
            "RecBole's row order is not the one this version knows"
        )
    rows.update(Interaction({TARGET_EVENT: torch.from_numpy(history.row_targets)}))
    dataset.seen_history = history


def seen_index(dataset, rows):
    """The (row, item) pairs RecBole's trainer masks for `rows` of `dataset`, or None when not excluding."""
    history = getattr(dataset, "seen_history", None)
    if history is None or TARGET_EVENT not in rows:
        return None
    return history.index(rows[TARGET_EVENT].numpy())
