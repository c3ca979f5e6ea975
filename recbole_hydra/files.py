"""Files on disk: writes that are never seen half-done, and yaml read without running code.

A leaf module (it imports nothing of ours): checkpoints, tables, dataset conversion, tuning
records and streaming states all write through `replaced_atomically`, so a kill mid-write
always leaves the previous file whole.
"""

import contextlib
import os
import re
import uuid

import yaml


def _fsync(path):
    with open(path, "rb") as f:
        os.fsync(f.fileno())


@contextlib.contextmanager
def replaced_atomically(path):
    """Yield a fresh temporary path beside `path`; what the block writes there replaces `path`.

    On success the temporary file is flushed to disk and renamed onto `path` (os.replace is
    atomic). If the block raises, or writes nothing there (a writer that decided not to, such
    as RecBole's trainer off rank 0), `path` is left as it was and no temporary file remains.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    temporary = os.path.join(folder, f".{os.path.basename(path)}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        yield temporary
        if os.path.exists(temporary):
            _fsync(temporary)
            os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


@contextlib.contextmanager
def open_atomically(path, mode="w", **kwargs):
    """`open(path, mode)` whose content appears at `path` only once the block has succeeded."""
    with replaced_atomically(path) as temporary, open(temporary, mode, **kwargs) as f:
        yield f


def write_atomic(path, text):
    """Write `text` (utf-8) to `path` atomically: never a half-written file."""
    with open_atomically(path, "w", newline="", encoding="utf-8") as f:
        f.write(text)


class _YamlLoader(yaml.SafeLoader):
    """Safe loading, plus RecBole's reading of `1e-12` as a float (YAML 1.1 wants `1.0e-12`)."""


_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_yaml(path):
    """A yaml mapping from `path` (empty file: {}); never executes tags."""
    with open(path, encoding="utf-8") as f:
        data = yaml.load(f, Loader=_YamlLoader)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of key: value, got {type(data).__name__}")
    return data
