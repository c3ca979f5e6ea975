"""Freed CPU memory goes back to the OS after each epoch and evaluation (runtime/memory.py)."""

import pytest
import torch

from recbole_hydra.runtime import memory
from recbole_hydra.runtime.config import build_config
from recbole_hydra.runtime.training import train_and_test

from helpers import overrides, write_dataset


def _rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    pytest.skip("no /proc/self/status")


@pytest.mark.skipif(memory._LIBC is None, reason="glibc only")
def test_returning_freed_heap_lowers_resident_memory():
    # 2,000 tensors of 64 KB come from glibc's heap (below its mmap threshold); the one kept at the
    # top stops glibc from trimming the freed ones on its own, as live tensors do in training.
    blocks = [torch.ones(16 * 1024) for _ in range(2000)]  # 125 MB
    kept = blocks[-1]
    del blocks
    before = _rss_mb()
    assert memory.return_freed_heap() is True
    assert before - _rss_mb() > 60, "malloc_trim gave back less than half of 125 MB of freed tensors"
    assert kept.sum().item() == 16 * 1024  # the live tensor is untouched


def test_without_glibc_nothing_is_called(monkeypatch):
    monkeypatch.setattr(memory, "_LIBC", None)
    assert memory.return_freed_heap() is False


def test_training_returns_the_freed_heap_after_each_epoch_and_evaluation(tmp_path, monkeypatch):
    write_dataset(tmp_path)
    calls = []
    monkeypatch.setattr("recbole_hydra.runtime.training.return_freed_heap", lambda: calls.append(1))
    result = train_and_test(build_config("HydraRec", "syn", overrides=overrides(tmp_path, epochs=2)))
    assert result.epochs_run == 2
    assert len(calls) == 2 + 2  # each training epoch, each validation (eval_step 1)
