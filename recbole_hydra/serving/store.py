"""Where users' events live: one interface, two backends (sqlite_store.py, redis_store.py; stores.py
opens the one a --store names).

The store keeps, per user, an append-only event log; the n-th event of a user has sequence
number n (1, 2, ...). The log is the truth: a user's model state is a cache of it, held by the
service and rebuilt by replaying the log when missing or stale (engine.py).

An append is conditional and atomic: the writer says which sequence number it last saw for each
user (`expected`), and the whole batch is written only if every one still holds, so two replicas
that share a store can never interleave one user's events out of order (the loser catches up
and retries). `append` returns only once the batch is durable, as the backend's `durability`
says (docs/serving.md).
"""

import abc
from typing import Dict, List, NamedTuple, Optional

DURABILITY = ("full", "relaxed")  # see each backend's docstring


class Event(NamedTuple):
    user: str
    item: str
    timestamp: Optional[float] = None


class Logged(NamedTuple):
    seq: int  # the event's place in its user's log, from 1
    item: str
    timestamp: Optional[float]


class SeqConflict(Exception):
    """Some users' logs moved on since the writer last read them; nothing was written."""

    def __init__(self, current):
        super().__init__(f"stale sequence numbers for {len(current)} user(s)")
        self.current = current  # {user: the store's last sequence number}


class StoreError(Exception):
    """The store cannot be reached, refuses a write, or is set up to lose acknowledged events."""


class Store(abc.ABC):
    description = ""  # one line for /health: backend, where, durability

    @abc.abstractmethod
    def append(self, events: List[Event], expected: Dict[str, int]) -> List[int]:
        """Append `events` in order, all or none, durably; their sequence numbers in the same order.

        `expected[user]`: the last sequence number the writer saw for each user of the batch (0:
        none). Raises SeqConflict, writing nothing, if any user's log has moved on.
        """

    @abc.abstractmethod
    def last_seqs(self, users) -> Dict[str, int]:
        """{user: last sequence number} for `users`, 0 for a user with no event."""

    @abc.abstractmethod
    def read(self, after: Dict[str, int]) -> Dict[str, List[Logged]]:
        """{user: that user's events with a sequence number above after[user], in order}."""

    @abc.abstractmethod
    def all_seqs(self) -> Dict[str, int]:
        """{user: last sequence number} for every user with an event."""

    @abc.abstractmethod
    def close(self):
        """Release connections (the data stays)."""
