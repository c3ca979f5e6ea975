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
import time
from recbole_hydra.benchmark import FULL, empty_row, measure_layer_overhead, measure_or_record, plan_cells

# Imported once by the fork server, inherited by every cell's process.
_PRELOAD = ["torch", "recbole.data", "recbole.utils", "recbole_hydra", "recbole_hydra.benchmark"]


def _context():
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" not in methods:  # e.g. Windows: a new interpreter per cell, slower but clean
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    return context


def _worker(kind, cell, settings, connection):
    """Inside the cell's own process: measure, send the result back, exit."""
    import warnings

    import torch

    warnings.filterwarnings("ignore")  # RecBole's pandas deprecation noise, once per cell
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
    """Every planned cell in turn, then the layer-overhead job: (rows, layer_rows)."""
    if not settings.isolate:
        import torch

        torch.set_num_threads(settings.threads)
    cells = plan_cells(settings)
    rows = []
    for index, cell in enumerate(cells, 1):
        started = time.perf_counter()
        rows.append(run_cell(cell, settings))
        progress(f"[{index}/{len(cells)}] {describe_row(rows[-1])} ({time.perf_counter() - started:.0f} s)")
    layer_rows = []
    if settings.layer_overhead:
        if settings.isolate:
            timeout = settings.cell_timeout_s * max(1, len(settings.lengths))
            layer_rows, failure = run_worker("layer_overhead", settings, timeout)
        else:
            layer_rows, failure = measure_layer_overhead(settings), None
        if failure:
            progress(f"layer overhead: not measured ({failure[0]}: {failure[1]})")
            layer_rows = []
        else:
            progress("layer overhead (train): " + ", ".join(
                f"N={r['seq_len']} {r['mode']} {r['train_overhead']:+.1%}" for r in layer_rows))
    return rows, layer_rows


def describe_row(row):
    name = row["model"] + ("" if row["variant"] == FULL else f"[{row['variant']}]")
    head = f"{name} {row['mode']} N={row['seq_len']} B={row['batch_size']}"
    if row["status"] != "ok":
        return f"{head}: {row['status']} ({row['note']})"
    return (f"{head}: train {row['train_ms']:.1f} ms, infer {row['infer_ms']:.1f} ms, "
            f"peak +{row['peak_mem_mb']:.1f} MB")


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
    return (f"{device}; {os.cpu_count()} logical CPUs, {settings.threads} torch thread(s) per cell; "
            f"torch {torch.__version__}, Python {platform.python_version()}")

