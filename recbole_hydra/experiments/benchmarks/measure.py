"""How the benchmark times a step and measures its memory, inside the cell's own process.

Clocks: on CPU with one thread, a step's time is the process's CPU time (time.process_time):
on a machine shared with other jobs it leaves out the time spent waiting for a core, which
wall-clock time does not. Wall-clock medians are kept beside it. On CUDA (or with several CPU
threads) the main clock is wall time, synchronised.
"""

import gc
import resource
import statistics
import time

import torch

from recbole_hydra.runtime.memory import return_freed_heap


def clock_name(settings):
    """The main clock's name: process CPU time on one CPU thread, else synchronised wall time."""
    return "process_cpu" if settings.device == "cpu" and settings.threads == 1 else "wall"


def _rss_kb(field_name):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise OSError(f"/proc/self/status has no {field_name}")


def _release_freed_memory():
    """Collect garbage and hand glibc's freed heap back to the OS, so RSS shows live memory
    (without glibc RSS then also holds freed-but-kept memory)."""
    gc.collect()
    return_freed_heap()


class PeakMemory:
    """Peak memory one phase adds on top of what the process holds when the phase starts.

    CUDA: the caching allocator's peak of allocated bytes (`max_memory_allocated` after
    `reset_peak_memory_stats`) minus what was allocated at the start.
    CPU: the peak resident set size (VmHWM, reset by writing 5 to /proc/self/clear_refs, Linux
    ≥ 4.0) minus the resident set at the start, after returning freed heap to the OS. This counts
    every byte the step makes the OS hand over (tensors, autograd buffers, allocator overhead),
    so it is what a user's machine must have free; it slightly overstates pure tensor bytes.
    Without clear_refs: the growth of the lifetime peak (ru_maxrss), a lower bound.
    """

    def __init__(self, device):
        self.device = device
        if device.type == "cuda":
            self.kind = "cuda_max_allocated_delta"
        elif self._can_reset_rss_peak():
            self.kind = "cpu_rss_peak_delta"
        else:
            self.kind = "cpu_ru_maxrss_delta_lower_bound"
        self.start_kb = 0

    @staticmethod
    def _can_reset_rss_peak():
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            _rss_kb("VmHWM")
            return True
        except OSError:
            return False

    def start(self):
        _release_freed_memory()
        if self.kind.startswith("cuda"):
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.start_kb = torch.cuda.memory_allocated(self.device) / 1024
        elif self.kind == "cpu_rss_peak_delta":
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.start_kb = _rss_kb("VmRSS")
        else:
            self.start_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def peak_mb(self):
        if self.kind.startswith("cuda"):
            torch.cuda.synchronize(self.device)
            peak_kb = torch.cuda.max_memory_allocated(self.device) / 1024
        elif self.kind == "cpu_rss_peak_delta":
            peak_kb = _rss_kb("VmHWM")
        else:
            peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return max(0.0, peak_kb - self.start_kb) / 1024


def time_steps(step, settings, sync, after_first_step=None):
    """(median main-clock ms, median wall ms, timed steps) of repeated calls of `step`.

    `warmup` untimed calls (only the first when one call takes over a quarter of the phase
    budget: its first call already paid the one-time costs), then `repeats` timed calls, cut
    short, once three are in, when the phase has run for `phase_budget_s`: a 12 s SASRec step at
    N=4000 then costs four steps, not seven. `after_first_step` runs once the first call is done
    (memory is measured from there: lazily built state such as Adam's moments or compiled
    kernels is not a step's working memory).
    """
    started = time.perf_counter()
    calls = 0
    main, wall = [], []
    use_cpu_clock = clock_name(settings) == "process_cpu"
    while len(main) < settings.repeats:
        warming = calls < settings.warmup
        if warming and calls == 1 and time.perf_counter() - started > settings.phase_budget_s / 4:
            warming = False  # one slow warm-up call is enough
        if not warming and len(main) >= 3 and time.perf_counter() - started > settings.phase_budget_s:
            break
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        step()
        sync()
        if not warming:
            wall.append(time.perf_counter() - wall_start)
            main.append(time.process_time() - cpu_start if use_cpu_clock else wall[-1])
        calls += 1
        if calls == 1 and after_first_step is not None:
            after_first_step()
    return statistics.median(main) * 1000, statistics.median(wall) * 1000, len(main)


def limit_address_space(settings):
    """CPU: let this process grow by at most memory_limit_mb more, so a too-large step fails with
    a catchable allocation error instead of waking the OOM killer on a shared machine."""
    if settings.device != "cpu" or settings.memory_limit_mb <= 0 or not settings.isolate:
        return  # never limit a process that goes on to do other work
    extra = settings.memory_limit_mb * 2**20
    current = _rss_kb("VmSize") * 1024
    resource.setrlimit(resource.RLIMIT_AS, (current + extra, resource.RLIM_INFINITY))
