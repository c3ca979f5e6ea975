"""The backend a `--store` names: a redis://, rediss:// or unix:// URL is Redis, anything else a SQLite file."""

from recbole_hydra.serving.redis_store import RedisStore
from recbole_hydra.serving.sqlite_store import SQLiteStore
from recbole_hydra.serving.store import DURABILITY


def is_redis_url(spec):
    return spec.startswith(("redis://", "rediss://", "unix://"))


def open_store(spec, durability="full"):
    """A Store for `spec`: a redis://, rediss:// or unix:// URL is Redis, anything else a SQLite file path."""
    if durability not in DURABILITY:
        raise ValueError(f"durability must be one of {list(DURABILITY)}, got {durability!r}")
    if is_redis_url(spec):
        return RedisStore(spec, durability)
    return SQLiteStore(spec, durability)
