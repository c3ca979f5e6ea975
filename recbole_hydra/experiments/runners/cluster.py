"""compare on a Ray cluster: each run is a Ray task that starts the run's own process on some node.

The task only shepherds: it spawns the run as compare does on one machine (`spawn_run`: a fresh
interpreter per run, so peak memory is the run's own) and hands back what the run made.

Where the files go. The driver marks its output folder and checkpoint folder with one token
(`.hydrarec-storage`). A node that reads the same token there shares that storage: its runs
write logs and checkpoints straight into them, so a run cut short (its node lost, the driver
killed) goes on from its last finished epoch wherever it runs next. A node that does not (no
shared filesystem) runs each run in a scratch folder of its own; the run's best checkpoint and
logs come back to the driver in the task's return value (Ray's object store), and a run whose
node is lost starts again from epoch 0 elsewhere (from its last epoch if it lands on the same
node again).

Faults. Ray retries a task whose node or worker died (`max_retries`); a run that fails for its
own reasons (a NaN, a bad setting) raises, is not retried, and becomes a failed row. The driver
writes each run's row once, when its task returns: a retried run is still one row.
"""

import os
import shutil
import socket
import tempfile
import threading
import uuid

from recbole_hydra.config_errors import ConfigError
from recbole_hydra.experiments.runners.local import console_path, spawn_run
from recbole_hydra.files import open_atomically
from recbole_hydra.runtime.checkpoints import last_checkpoint_path

STORAGE_MARK = ".hydrarec-storage"  # in the output and checkpoint folders: the token nodes compare
RETRIES = 3  # Ray's retries of a run whose node or worker died; its own errors are never retried


# ----- connecting and resources ---------------------------------------------------------------


def import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("a Ray cluster needs Ray: pip install 'recbole-hydra[tune]'") from None
    return ray


def connect(address, option="--address", **init_args):
    """Join the Ray cluster at `address` ('auto', 'HOST:PORT', 'ray://HOST:10001'); True if this call
    connected (the caller then disconnects), False if this process was already connected."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    try:
        ray.init(address=address, include_dashboard=False, **init_args)
    except (ConnectionError, ValueError, RuntimeError) as error:
        message = str(error).strip().splitlines()
        raise ConfigError(
            f"{option} {address}: no Ray cluster to join there ({message[0] if message else type(error).__name__})"
        ) from None
    return True


def node_resources():
    """[{'CPU': 2.0, 'GPU': 1.0, ...}] of every live node of the connected cluster."""
    return [node["Resources"] for node in import_ray().nodes() if node["Alive"]]


def check_resources(cpus, gpus, cpu_option, gpu_option, where="the Ray cluster"):
    """A run asking for more CPUs or GPUs than any one node has would wait forever: say so now."""
    nodes = node_resources()
    most_cpus = max((node.get("CPU", 0) for node in nodes), default=0)
    most_gpus = max((node.get("GPU", 0) for node in nodes), default=0)
    if gpus and not most_gpus:
        raise ConfigError(f"{gpu_option} {gpus:g}: {where} has no GPU ({len(nodes)} nodes); drop {gpu_option}")
    if gpus > most_gpus:
        raise ConfigError(f"{gpu_option} {gpus:g}: no node of {where} has that many GPUs (at most {most_gpus:g})")
    if cpus > most_cpus:
        raise ConfigError(f"{cpu_option} {cpus:g}: no node of {where} has that many CPUs (at most {most_cpus:g})")


def here():
    """The Ray node id and host name of this process (a task or trial on some node)."""
    return {"node_id": import_ray().get_runtime_context().get_node_id(), "host": socket.gethostname()}


def device_settings():
    """Settings that give a run, inside a Ray task or trial, exactly the GPUs Ray gave it.

    RecBole writes its `gpu_id` (default '0') into CUDA_VISIBLE_DEVICES, which would undo Ray's
    choice: a run sharing a node's second GPU would land on its first. Without GPUs from Ray a
    run stays on the CPU, also on a node that has GPUs (others have reserved them).
    """
    ray = import_ray()
    gpu_ids = ray.get_gpu_ids()
    if gpu_ids:
        return {"use_gpu": True, "gpu_id": ",".join(str(gpu) for gpu in gpu_ids)}
    node = ray.get_runtime_context().get_node_id()
    has_gpus = any(n["NodeID"] == node and n["Resources"].get("GPU", 0) for n in ray.nodes())
    return {"use_gpu": False} if has_gpus else {}


# ----- storage: shared, or shipped back ---------------------------------------------------------


def mark_storage(folders):
    """The token of this comparison's storage, written into each folder (the first one's token is kept,
    so that a restarted driver finds the scratch folders of its runs cut short on nodes without it)."""
    first = os.path.join(folders[0], STORAGE_MARK)
    token = _read(first) or uuid.uuid4().hex
    for folder in folders:
        if _read(os.path.join(folder, STORAGE_MARK)) != token:
            with open_atomically(os.path.join(folder, STORAGE_MARK)) as f:
                f.write(token)
    return token


def _read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return None


def shares_storage(folders, token):
    """Whether this node sees the driver's folders: the same token at the same paths."""
    return all(_read(os.path.join(folder, STORAGE_MARK)) == token for folder in folders)


def _collect(folder):
    """{path relative to folder: bytes} of every file under it."""
    files = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, folder)] = f.read()
    return files


def _deliver(files, folder):
    """Write files shipped back from a node under `folder`, each atomically."""
    for relative, data in files.items():
        with open_atomically(os.path.join(folder, relative), "wb") as f:
            f.write(data)


# ----- one run, on some node -----------------------------------------------------------------


def run_on_node(entry, dataset, threads, workdir, token, ship=False):
    """The Ray task of one run: (result, resolved config, where, {'output'|'saved': files shipped back}).

    `ship`: run in a scratch folder and send the files back even where the storage is shared.
    An exception carries `where`, so that the failed row says on which node it happened.
    """
    where = here()
    checkpoint_dir = entry.settings["checkpoint_dir"]
    scratch = None
    try:
        data_folder = os.path.join(entry.settings["data_path"], dataset)
        if dataset != "ml-100k" and not os.path.isdir(data_folder):  # RecBole ships ml-100k
            raise ConfigError(
                f"dataset folder {data_folder} is not on node {where['node_id'][:8]} ({where['host']}): "
                "every node needs the data at the same path (or on shared storage)"
            )
        settings, checkpoint_file = entry.settings, entry.checkpoint_file
        if ship or not shares_storage([workdir, checkpoint_dir], token):
            run_id = os.path.splitext(os.path.basename(entry.checkpoint_file))[0]
            scratch = os.path.join(tempfile.gettempdir(), "hydrarec-compare", token, run_id)
            workdir = os.path.join(scratch, "output")
            settings = {**settings, "checkpoint_dir": os.path.join(scratch, "saved")}
            checkpoint_file = os.path.join(settings["checkpoint_dir"], os.path.basename(entry.checkpoint_file))
        last = last_checkpoint_path(checkpoint_file)
        resume_file = last if os.path.isfile(last) else None
        console_file = console_path(workdir, entry)
        os.makedirs(os.path.dirname(console_file), exist_ok=True)
        with open(console_file, "a", encoding="utf-8") as console:  # which node tried it, and from where
            console.write(
                f"compare: {entry.name} on node {where['node_id']} ({where['host']}), "
                + (f"resuming from {resume_file}\n" if resume_file else "from its first epoch\n")
            )
        settings = {**settings, **device_settings()}
        result, resolved, device = spawn_run(
            entry.model, dataset, settings, threads, workdir, console_file, checkpoint_file, resume_file
        )
    except Exception as error:
        error.where = where
        raise
    # The record speaks of the driver's files, wherever the run wrote them.
    resolved["checkpoint_dir"] = checkpoint_dir
    if result["checkpoint"]:
        result["checkpoint"] = os.path.join(checkpoint_dir, os.path.basename(result["checkpoint"]))
    shipped = {}
    if scratch:
        shipped = {part: _collect(os.path.join(scratch, part)) for part in ("output", "saved")}
        shutil.rmtree(scratch, ignore_errors=True)
    return result, resolved, {**where, "device": device}, shipped


# ----- the runner compare calls ----------------------------------------------------------------


def _count(amount, unit):
    return f"{amount:g} {unit}" + ("" if amount == 1 else "s")


class RayRunner:
    """compare's runner for a Ray cluster: every run a task asking for `cpus` CPUs and `gpus` GPUs.

    Connects on creation and checks that some node fits one run, so that a bad request fails
    before anything runs; `close()` disconnects. `ship`: always send files back through Ray, as
    for nodes without shared storage (on by itself for every node that does not see the folders).
    """

    def __init__(self, address, cpus=1, gpus=0, ship=False):
        self.ray = import_ray()
        self.connected = connect(address, log_to_driver=False)
        try:
            check_resources(cpus, gpus, "--cpus-per-run", "--gpus-per-run", f"the Ray cluster at {address}")
        except ConfigError:
            self.close()
            raise
        self.task = self.ray.remote(run_on_node).options(
            num_cpus=cpus, num_gpus=gpus, max_retries=RETRIES, retry_exceptions=False
        )
        self.ship = ship
        self.placement = (
            f"each run a Ray task on the cluster at {address} with {_count(cpus, 'CPU')} and {_count(gpus, 'GPU')} "
            f"({len(node_resources())} nodes at the start)"
        )
        self._tokens = {}
        self._tokens_lock = threading.Lock()  # compare calls from one thread per run, all at once
        self._running = set()

    def __call__(self, entry, dataset, threads, workdir, quiet=True):
        checkpoint_dir = entry.settings["checkpoint_dir"]
        folders = (workdir, checkpoint_dir)
        with self._tokens_lock:  # one token per folder: a second one written beside it would hide the storage
            if folders not in self._tokens:
                self._tokens[folders] = mark_storage(list(folders))
        ref = self.task.remote(entry, dataset, threads, workdir, self._tokens[folders], self.ship)
        self._running.add(ref)
        try:
            result, resolved, where, shipped = self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as error:
            # The run's own exception, as a local run raises it; Ray's wrapper only adds its traceback.
            raise (error.cause if error.cause is not None else error) from None
        finally:
            self._running.discard(ref)
        _deliver(shipped.get("output", {}), workdir)
        _deliver(shipped.get("saved", {}), checkpoint_dir)
        return result, resolved, where

    def stop(self):
        """Cancel the runs in progress (Ctrl-C reaches this process only); their -last.pth stay."""
        for ref in list(self._running):
            self.ray.cancel(ref, force=True)

    def close(self):
        if self.connected and self.ray.is_initialized():
            self.ray.shutdown()
