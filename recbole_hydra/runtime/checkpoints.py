"""RecBole checkpoint files: loading the ones we trust, naming a run's files, and reading old ones.

A run writes up to three files: RecBole's best model `X.pth`, and while it trains, its last
finished epoch `X-last.pth` with that epoch's record `X-last.json` (training.py writes them).
"""

import contextlib
import importlib
import itertools
import os
import sys

LAST_SUFFIX = "-last.pth"

# Module paths that checkpoints saved by earlier layouts pickled, and where those classes live now.
# A RecBole checkpoint pickles its whole Config: our HydraConfig and config['model_class'].
LEGACY_MODULES = {
    "recbole_hydra.config": "recbole_hydra.runtime.config",  # HydraConfig, before 0.2
}


def register_legacy_modules():
    """Let pickle find classes under the module paths of earlier layouts (LEGACY_MODULES)."""
    for old, new in LEGACY_MODULES.items():
        sys.modules.setdefault(old, importlib.import_module(new))


@contextlib.contextmanager
def trusted_checkpoint(path, loaded=None):
    """Within the block, `torch.load(path)` of this one file unpickles fully; all else is unchanged.

    RecBole 1.2.1 checkpoints pickle the whole Config (classes, enums, numpy scalars) with
    pickle protocol 4, which torch's weights-only unpickler cannot read at all. The caller names
    the file, as RecBole's API already makes them do: the trainer's own fresh checkpoint, a file
    passed to `resume_checkpoint`, `evaluate(model_file=...)` or `load_data_and_model`.
    `loaded`: the file's content, already loaded by the caller; torch.load(path) then returns it
    instead of reading the file again.
    """
    import torch

    trusted = os.path.realpath(path)
    original_load = torch.load

    def load(f, *args, **kwargs):
        if isinstance(f, (str, os.PathLike)) and os.path.realpath(f) == trusted:
            if loaded is not None:
                return loaded
            kwargs.setdefault("weights_only", False)
        return original_load(f, *args, **kwargs)

    torch.load = load
    try:
        yield
    finally:
        torch.load = original_load


def load_checkpoint(path, map_location="cpu"):
    """Load a RecBole checkpoint file that the caller trusts (it runs pickled code)."""
    import torch

    return torch.load(path, map_location=map_location, weights_only=False)


def last_checkpoint_path(best_path):
    """Where a run keeps its last finished epoch, beside its best model: X.pth → X-last.pth."""
    root, _ = os.path.splitext(str(best_path))
    return root + LAST_SUFFIX


def best_checkpoint_of(path):
    """The best-model file that belongs to a last-epoch checkpoint, or None for any other file."""
    path = str(path)
    return path[: -len(LAST_SUFFIX)] + ".pth" if path.endswith(LAST_SUFFIX) else None


def history_path(last_file):
    """X-last.pth → X-last.json: the record of the epochs that X-last.pth has trained."""
    return os.path.splitext(last_file)[0] + ".json"


def claim_checkpoint_path(path):
    """A free checkpoint name, claimed by creating it empty; -2, -3, ... added to a taken name.

    RecBole names a checkpoint by the model and the second it started, so two runs started in the
    same second (one after the other, or side by side as in `compare --jobs 2`) would share one
    file. Creating it with O_EXCL is atomic across processes: no two runs can claim one name.
    The first save replaces the empty file; `drop_if_empty` removes it if none ever comes.
    """
    root, ext = os.path.splitext(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    for number in itertools.count(1):
        candidate = path if number == 1 else f"{root}-{number}{ext}"
        if os.path.exists(last_checkpoint_path(candidate)):
            continue
        try:
            os.close(os.open(candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))  # mode as open() gives
        except FileExistsError:
            continue
        return candidate


def drop_if_empty(path):
    """Remove a claimed checkpoint name that no save ever filled."""
    if path and os.path.isfile(path) and os.path.getsize(path) == 0:
        os.remove(path)
