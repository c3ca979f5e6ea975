"""The embedded store: one SQLite file in WAL mode, no server.

Durability. In WAL mode a commit appends the transaction to the `-wal` file:
  full     (synchronous=FULL, the default) the WAL is fsynced at every commit, so an acknowledged
           event survives a kill -9 of the server and a power cut or OS crash;
  relaxed  (synchronous=NORMAL) the WAL is fsynced only at checkpoints. A committed transaction
           sits in the OS page cache, so it survives a kill -9 of the server (the OS still writes
           it out) but not a power cut or OS crash, which can lose the last commits; the file
           stays consistent either way.
The engine commits a whole batch of waiting events in one transaction (group commit), so one
fsync serves every request in it.

Several processes may share the file: appends take SQLite's write lock (BEGIN IMMEDIATE) and check
each user's last sequence number inside it. Each thread gets its own connection.
"""

import os
import sqlite3
import threading

from recbole_hydra.serving.store import Logged, SeqConflict, Store, StoreError

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    user TEXT NOT NULL, seq INTEGER NOT NULL, item TEXT NOT NULL, timestamp REAL,
    PRIMARY KEY (user, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS users (user TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
"""
SYNCHRONOUS = {"full": "FULL", "relaxed": "NORMAL"}
CHUNK = 500  # users per query: SQLite allows 32,766 parameters, but a long IN list gains nothing


class SQLiteStore(Store):
    def __init__(self, path, durability="full"):
        self.path = os.path.abspath(os.fspath(path))
        self.synchronous = SYNCHRONOUS[durability]
        self.description = f"sqlite {self.path} (WAL, synchronous={self.synchronous})"
        self._local = threading.local()
        self._connections = []
        self._lock = threading.Lock()
        folder = os.path.dirname(self.path)
        if not os.path.isdir(folder):
            raise StoreError(f"store {path}: folder {folder} does not exist")
        self._connection().executescript(SCHEMA)

    def _connection(self):
        connection = getattr(self._local, "connection", None)
        if connection is None:
            try:
                # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE ... COMMIT).
                connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
                if connection.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() != "wal":
                    raise StoreError(f"store {self.path}: SQLite could not switch it to WAL mode")
                connection.execute(f"PRAGMA synchronous={self.synchronous}")
            except sqlite3.Error as error:
                raise StoreError(f"store {self.path}: {error}") from None
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def append(self, events, expected):
        db = self._connection()
        try:
            db.execute("BEGIN IMMEDIATE")  # the write lock first: no other writer between check and insert
            try:
                current = self._seqs(db, list(expected))
                stale = {user: current[user] for user, seq in expected.items() if current[user] != seq}
                if stale:
                    raise SeqConflict(stale)
                next_seq, seqs = dict(expected), []
                for event in events:
                    next_seq[event.user] += 1
                    seqs.append(next_seq[event.user])
                db.executemany(
                    "INSERT INTO events (user, seq, item, timestamp) VALUES (?, ?, ?, ?)",
                    [(e.user, seq, e.item, e.timestamp) for e, seq in zip(events, seqs)],
                )
                db.executemany(
                    "INSERT INTO users (user, seq) VALUES (?, ?) ON CONFLICT(user) DO UPDATE SET seq = excluded.seq",
                    [(user, seq) for user, seq in next_seq.items() if seq != expected[user]],
                )
                db.execute("COMMIT")  # returns once durable, as `synchronous` says
            except BaseException:
                if db.in_transaction:  # a failed COMMIT may have rolled back already
                    db.execute("ROLLBACK")
                raise
        except sqlite3.Error as error:
            raise StoreError(f"store {self.path}: {error}") from None
        return seqs

    def _seqs(self, db, users):
        found = {}
        for start in range(0, len(users), CHUNK):
            chunk = users[start : start + CHUNK]
            marks = ",".join("?" * len(chunk))
            found.update(db.execute(f"SELECT user, seq FROM users WHERE user IN ({marks})", chunk).fetchall())
        return {user: found.get(user, 0) for user in users}

    def last_seqs(self, users):
        try:
            return self._seqs(self._connection(), list(users))
        except sqlite3.Error as error:
            raise StoreError(f"store {self.path}: {error}") from None

    def read(self, after):
        db = self._connection()
        try:
            db.execute("BEGIN")  # one snapshot for all users
            try:
                return {
                    user: [
                        Logged(*row)
                        for row in db.execute(
                            "SELECT seq, item, timestamp FROM events WHERE user = ? AND seq > ? ORDER BY seq",
                            (user, seq),
                        )
                    ]
                    for user, seq in after.items()
                }
            finally:
                db.execute("COMMIT")
        except sqlite3.Error as error:
            raise StoreError(f"store {self.path}: {error}") from None

    def all_seqs(self):
        try:
            return dict(self._connection().execute("SELECT user, seq FROM users").fetchall())
        except sqlite3.Error as error:
            raise StoreError(f"store {self.path}: {error}") from None

    def close(self):
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
        self._local = threading.local()
