"""Run the benchmark's cells, each in a fresh process, and report progress.

Why a process per cell: peak memory then belongs to that cell alone; a cell that runs out of
memory or time is recorded as such instead of ending the run; no model's allocator state or
warm caches leak into the next one's timing.

Why a fork server: a plain new interpreter spends seconds importing torch, RecBole and its
dependencies per cell. multiprocessing's fork server imports them once, in a process that never
runs a tensor operation (so forking it is safe for OpenMP thread pools and for CUDA), and forks
a fresh child from it for every cell.
"""

import multiprocessing
import os
import platform
import signal
import statistics
import time

from recbole_hydra.experiments.benchmarks.bench_cells import (
    FULL,
    empty_row,
    measure_layer_overhead,
    measure_or_record,
    plan_cells,
)

# Imported once by the fork server, inherited by every cell's process.
_PRELOAD = [
    "torch",
    "recbole_hydra",
    "recbole_hydra.runtime.datasets",  # RecBole's data and utils
    "recbole_hydra.runtime.training",
    "recbole_hydra.experiments.benchmarks.bench_cells",
]


def _context():
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" not in methods:  # e.g. Windows: a new interpreter per cell, slower but clean
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    return context


def _worker(kind, cell, settings, connection):
    """Inside the cell's own process: measure, send the result back, exit."""
    import torch

    from recbole_hydra.runtime.patches import hide_recbole_warnings

    hide_recbole_warnings()
    torch.set_num_threads(settings.threads)
    if settings.compile:  # compile in this process: no pool of compiler processes left behind
        import torch._inductor.config

        torch._inductor.config.compile_threads = 1
    result = measure_layer_overhead(settings) if kind == "layer_overhead" else measure_or_record(cell, settings)
    connection.send(result)
    connection.close()


def run_worker(kind, settings, timeout_s, cell=None):
    """Run one job in a fresh process: (result, None), or (None, (status, note)) when it gave none."""
    context = _context()
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_worker, args=(kind, cell, settings, sender))
    process.start()
    sender.close()  # the child holds the only writer: EOF when it dies
    try:
        if not receiver.poll(timeout_s):
            return None, ("timeout", f"no result within {timeout_s:g} s (--cell-timeout)")
        return receiver.recv(), None
    except EOFError:
        process.join()
        if process.exitcode == -signal.SIGKILL:
            return None, ("oom", "the cell's process was killed (SIGKILL: the OOM killer?)")
        return None, ("error", f"the cell's process exited with code {process.exitcode} and no result")
    finally:
        if process.is_alive():
            process.kill()
        process.join()
        receiver.close()


def run_cell(cell, settings):
    """One cell's row: measured in a fresh process (or in this one, without isolation)."""
    if not settings.isolate:
        return measure_or_record(cell, settings)
    result, failure = run_worker("cell", settings, settings.cell_timeout_s, cell)
    return result if failure is None else empty_row(cell, settings, *failure)


def run_bench(settings, progress=print):
    """The whole plan (every cell, then the layer-overhead job), `rounds` times over:
    (rows, layer_rows), each cell's figures the median of its rounds."""
    if not settings.isolate:
        import torch

        torch.set_num_threads(settings.threads)
    cells = plan_cells(settings)
    rounds, layer_rounds = [], []
    for round_index in range(settings.rounds):
        prefix = f"[round {round_index + 1}/{settings.rounds}] " if settings.rounds > 1 else ""
        rows = []
        for index, cell in enumerate(cells, 1):
            started = time.perf_counter()
            rows.append(run_cell(cell, settings))
            progress(f"{prefix}[{index}/{len(cells)}] {describe_row(rows[-1])} ({time.perf_counter() - started:.0f} s)")
        rounds.append(rows)
        if settings.layer_overhead:
            layer_rows = _run_layer_overhead(settings, progress, prefix)
            if layer_rows:
                layer_rounds.append(layer_rows)
    return median_over_rounds(rounds), median_layer_rows(layer_rounds)


def _run_layer_overhead(settings, progress, prefix=""):
    if settings.isolate:
        timeout = settings.cell_timeout_s * max(1, len(settings.lengths))
        layer_rows, failure = run_worker("layer_overhead", settings, timeout)
    else:
        layer_rows, failure = measure_layer_overhead(settings), None
    if failure:
        progress(f"{prefix}layer overhead: not measured ({failure[0]}: {failure[1]})")
        return []
    progress(
        prefix
        + "layer overhead (train): "
        + ", ".join(f"N={r['seq_len']} {r['mode']} {r['train_overhead']:+.1%}" for r in layer_rows)
    )
    return layer_rows


_MEDIAN_FIELDS = (
    "train_ms",
    "infer_ms",
    "peak_mem_mb",
    "infer_peak_mem_mb",
    "train_wall_ms",
    "infer_wall_ms",
    "train_steps_timed",
    "infer_steps_timed",
)


def median_over_rounds(rounds):
    """Rounds of rows (each the same cells in the same order) → one row per cell: the median of its
    successful rounds, `rounds` = how many; a cell with none keeps its first failure."""
    merged = []
    for per_cell in zip(*rounds):
        ok = [row for row in per_cell if row["status"] == "ok"]
        row = dict(ok[0] if ok else per_cell[0])
        if ok:
            for key in _MEDIAN_FIELDS:
                row[key] = statistics.median(r[key] for r in ok)
            failed = [r for r in per_cell if r["status"] != "ok"]
            if failed:
                row["note"] = (
                    f"{len(failed)} of {len(per_cell)} rounds failed ({failed[0]['status']}: {failed[0]['note']})"
                )
        row["rounds"] = len(ok)
        merged.append(row)
    return merged


def median_layer_rows(layer_rounds):
    """The layer-overhead rows of several rounds → their medians, overheads from the median times."""
    merged = []
    for per_row in zip(*layer_rounds):
        row = dict(per_row[0])
        for key in ("layer_train_ms", "no_mix_train_ms", "layer_infer_ms", "no_mix_infer_ms"):
            row[key] = statistics.median(r[key] for r in per_row)
        row["train_overhead"] = row["layer_train_ms"] / row["no_mix_train_ms"] - 1
        row["infer_overhead"] = row["layer_infer_ms"] / row["no_mix_infer_ms"] - 1
        merged.append(row)
    return merged


def describe_row(row):
    name = row["model"] + ("" if row["variant"] == FULL else f"[{row['variant']}]")
    head = f"{name} {row['mode']} N={row['seq_len']} B={row['batch_size']}"
    if row["status"] != "ok":
        return f"{head}: {row['status']} ({row['note']})"
    return f"{head}: train {row['train_ms']:.1f} ms, infer {row['infer_ms']:.1f} ms, peak +{row['peak_mem_mb']:.1f} MB"


def machine_summary(settings):
    """One line naming the machine and software the numbers came from."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    device = torch.cuda.get_device_name(0) if settings.device == "cuda" else f"CPU: {cpu}"
    return (
        f"{device}; {os.cpu_count()} logical CPUs, {settings.threads} torch thread(s) per cell; "
        f"torch {torch.__version__}, Python {platform.python_version()}"
    )
