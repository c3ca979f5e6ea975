"""Runs on this machine, each in a fresh process: the runner `compare` uses unless told otherwise.

Why a process per run: a process's peak RSS only ever grows, so sharing one process would charge
every model with the largest earlier peak; a crash (or the OOM killer) then takes down one run,
not the comparison. `spawn_run` is also what a Ray task runs on its node (cluster.py).

A runner is called as `runner(entry, dataset, threads, workdir, quiet)` and returns (result,
resolved config, where: device, node_id and host); it may have `placement` (a line for
comparison.md on where the runs went) and `stop()` (called on Ctrl-C).
"""

import dataclasses
import multiprocessing
import os
import signal
import socket
import threading
import time
from concurrent.futures import ProcessPoolExecutor

from recbole_hydra.runtime.config import build_config, plain


def _exit_with_parent():
    """Stop this run when the process that started it is gone (a compare killed with -9, a lost Ray
    node's worker): nobody would collect its result, and it would go on writing the -last.pth
    that a rerun, or a retry on another node, resumes from."""
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _run_entry(model, dataset, settings, threads, workdir, console_file=None, checkpoint_file=None, resume_file=None):
    """Child process: build the config, train and test; (RunResult as dict, resolved config, device).

    With `console_file`, everything the run prints goes there instead of the shared terminal.
    """
    _exit_with_parent()
    if console_file:
        os.makedirs(os.path.dirname(console_file), exist_ok=True)
        with open(console_file, "a", encoding="utf-8") as console:
            os.dup2(console.fileno(), 1)
            os.dup2(console.fileno(), 2)

    import torch

    import recbole_hydra  # noqa: F401  registers HydraRec in this fresh interpreter
    from recbole_hydra.runtime.patches import hide_recbole_warnings
    from recbole_hydra.runtime.training import train_and_test

    hide_recbole_warnings()
    if threads:
        torch.set_num_threads(threads)
    os.chdir(workdir)
    config = build_config(model, dataset, overrides=settings)
    resolved = {key: plain(value) for key, value in config.final_config_dict.items()}
    result = train_and_test(config, checkpoint_file=checkpoint_file, resume_file=resume_file)
    return dataclasses.asdict(result), resolved, str(config["device"])


def console_path(workdir, entry):
    return os.path.join(workdir, "log", "console", f"{entry.name}.log")


_live_pools = set()  # the one-process pools of the runs in progress, for stop_runs


def spawn_run(model, dataset, settings, threads, workdir, console_file, checkpoint_file, resume_file):
    """Train and test in a fresh spawned interpreter; (result, resolved config, device).

    The run's exceptions come back as exceptions; BrokenProcessPool if its process died.
    """
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        _live_pools.add(pool)  # before its process starts: a kill in between must still reach it
        try:
            return pool.submit(
                _run_entry, model, dataset, settings, threads, workdir, console_file, checkpoint_file, resume_file
            ).result()
        finally:
            _live_pools.discard(pool)


def run_in_subprocess(entry, dataset, threads, workdir, quiet=False):
    """Run one entry in its own process on this machine; (result, resolved config, where).

    `quiet`: the run's output goes to its console file (side-by-side runs would interleave).
    """
    console_file = console_path(workdir, entry) if quiet else None
    where = {"node_id": "", "host": socket.gethostname()}
    try:
        result, resolved, device = spawn_run(
            entry.model,
            dataset,
            entry.settings,
            threads,
            workdir,
            console_file,
            entry.checkpoint_file,
            entry.resume_file(),
        )
    except Exception as error:
        error.where = where  # a failed run's row says where it ran, as a finished one does
        raise
    return result, resolved, {**where, "device": device}


def stop_runs(signum=signal.SIGTERM):
    """Signal every run in progress. A `kill` reaches only the process it names (Ctrl-C reaches
    them all), and a run left behind would go on training with nobody to collect its result.
    A killed run loses at most the epoch in progress: its -last.pth is written atomically."""
    for pool in list(_live_pools):
        for process in list(getattr(pool, "_processes", {}).values()):  # no public way to the workers
            if process.is_alive():
                os.kill(process.pid, signum)
