"""compare and tune on a real two-node Ray cluster on this machine: the grid spread over both nodes,
a node killed mid-run, the driver killed and rerun, nodes without shared storage.

Slow (a cluster per test, real runs): marked `cluster`, so the default test run leaves them out;
`.ci/run` runs them (`pytest -m cluster`). All traffic stays on this machine: the head listens on
this machine's address and the second node on loopback, so a driver here attaches to the head (Ray
picks a driver's node by its address) and the second node is the one to kill.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import types

import pytest

from recbole_hydra.cli import main
from recbole_hydra.config_errors import ConfigError
from recbole_hydra.experiments.compare import compare
from recbole_hydra.experiments.grids.grid import Entry
from recbole_hydra.experiments.reports.tables import read_rows
from recbole_hydra.experiments.runners.local import run_in_subprocess
from recbole_hydra.files import load_yaml
from recbole_hydra.runtime.checkpoints import history_path

from helpers import REPO, overrides

ray = pytest.importorskip("ray")
from recbole_hydra.experiments.runners.cluster import STORAGE_MARK, RayRunner  # noqa: E402
from recbole_hydra.experiments.tune import evaluate_on_node, evaluate_on_test, tune_models  # noqa: E402

pytestmark = pytest.mark.cluster

# One tiny grid for every table: two models, and a row whose loss turns NaN (a run that fails for its
# own reasons). HydraRec trains per prefix here, as SASRec does, so that its epochs last long enough
# for a kill to fall in the middle of a run.
MODELS = ["SASRec", "HydraRec:causal:train_scheme=prefix", "HydraRec:causal:learning_rate=1e30"]
SEEDS = 1  # three runs: two start at once, one on each node
EPOCHS = 8
# What differs between two runs of the same grid: timings, memory, and where the runs went.
MEASURED = {"train_seconds_per_epoch", "train_seconds", "inference_seconds", "peak_memory_mb", "node_id", "host"}


def _write_dataset(folder, users=300, items=40, per_user=20):
    """helpers.write_dataset's walks (user u from its own start in steps of 3), with every fourth item off
    the walk, so that metrics stay below 1 and a resumed run that went astray would show."""
    os.makedirs(folder / "syn", exist_ok=True)
    with open(folder / "syn" / "syn.inter", "w", encoding="utf-8") as f:
        f.write("user_id:token\titem_id:token\ttimestamp:float\n")
        for user in range(users):
            for step in range(per_user):
                item = (user * 13 + step * 5) if (user + step) % 4 == 0 else (user * 7 + step * 3)
                f.write(f"u{user}\ti{item % items}\t{1000 + 10 * step + user}\n")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cluster")
    _write_dataset(folder)
    settings = overrides(folder, epochs=EPOCHS, train_batch_size=64, stopping_step=EPOCHS)
    del settings["checkpoint_dir"]  # DIR/saved, as for a user
    return folder, settings


def _compare(folder, settings, runner, models=MODELS, jobs=None):
    """The grid into folder/cmp: one folder for every table, so each call resumes the runs before it."""
    return compare(
        models=models,
        dataset="syn",
        seeds=SEEDS,
        output_dir=str(folder / "cmp"),
        overrides=settings,
        threads=1,
        jobs=jobs,
        command="compare (cluster test)",
        runner=runner,
    )


def _fresh(folder):
    shutil.rmtree(folder / "cmp", ignore_errors=True)


def _keep(folder, name):
    """Move folder/cmp aside as folder/name, for the next table; returns its rows."""
    shutil.rmtree(folder / name, ignore_errors=True)
    os.rename(folder / "cmp", folder / name)
    return read_rows(folder / name / "comparison.csv")


@pytest.fixture(scope="module")
def local_rows(data):
    """The single-machine table of the grid: each run in its own process here, one after the other."""
    folder, settings = data
    _fresh(folder)
    _compare(folder, settings, run_in_subprocess, jobs=1)
    return _keep(folder, "local")


def _unmeasured(rows):
    return [{key: value for key, value in row.items() if key not in MEASURED} for row in rows]


def _table_without_costs(markdown):
    """comparison.md above its settings: the table without its time and memory columns (ratios too), and the notes."""
    lines = markdown.split("## Settings")[0].splitlines()
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines if line.startswith("|")]
    costly = {
        i for i, name in enumerate(rows[0]) if any(word in name for word in ("seconds", "memory", "time", "inference"))
    }
    notes = [line for line in lines if not line.startswith("|")]
    return [[cell for i, cell in enumerate(row) if i not in costly] for row in rows], notes


@pytest.fixture
def cluster(monkeypatch):
    """A head and a second node, one CPU each, on this machine; this process is the driver, on the head."""
    from ray._private.services import get_node_ip_address
    from ray.cluster_utils import Cluster

    # A node's raylet goes down with its agent, and on a loaded machine the agent can miss Ray's 30 s to
    # register (seen here): the nodes, started from this process, inherit a longer wait.
    monkeypatch.setenv("RAY_agent_register_timeout_ms", "300000")
    loopback = "127.0.0.2" if get_node_ip_address() == "127.0.0.1" else "127.0.0.1"
    # Cluster records its head in /tmp/ray/ray_current_cluster, where a later bare ray.init() would look
    # for a cluster to join: put back what was there before.
    address_file = ray._private.utils.get_ray_address_file(None)
    previous = open(address_file).read() if os.path.exists(address_file) else None
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        second = cluster.add_node(num_cpus=1, node_ip_address=loopback)
        ray.init(address=cluster.address, log_to_driver=False)
        ids = {node["RayletSocketName"]: node["NodeID"] for node in ray.nodes()}
        head_id, second_id = ids[cluster.head_node._raylet_socket_name], ids[second._raylet_socket_name]
        assert ray.get_runtime_context().get_node_id() == head_id  # else killing the second node kills the driver
        yield types.SimpleNamespace(
            address=cluster.address,
            head=head_id,
            second=second_id,
            kill_second=lambda: cluster.remove_node(second, allow_graceful=False),  # SIGKILL, as a crash
        )
    finally:
        ray.shutdown()
        cluster.shutdown()
        if previous is None:
            if os.path.exists(address_file):
                os.remove(address_file)
        else:
            with open(address_file, "w") as f:
                f.write(previous)


def _name(row):
    """A CSV row's run name, as Entry.name spells it (in file names and logs)."""
    return Entry(row["model"], row["mode"], row["variant"], int(row["seed"]), {}).name


def _attempts(output, name):
    """The 'compare: <run> on node ...' lines of a run's console log in `output`: one per attempt."""
    with open(output / "log" / "console" / f"{name}.log", encoding="utf-8") as f:
        return [line.strip() for line in f if line.startswith(f"compare: {name} on node ")]


def test_compare_spreads_one_grid_over_both_nodes_and_matches_one_machine(data, local_rows, cluster, capsys):
    folder, settings = data
    # Resources no node has: refused before anything runs or is written.
    with pytest.raises(ConfigError, match=r"--gpus-per-run 1: the Ray cluster at \S+ has no GPU \(2 nodes\)"):
        RayRunner(cluster.address, gpus=1)
    with pytest.raises(ConfigError, match=r"--cpus-per-run 2: no node of the Ray cluster at \S+ has that many CPUs"):
        RayRunner(cluster.address, cpus=2)
    unused = folder / "unused"
    assert (
        main(
            ["compare", "--models", "SASRec", "--address", cluster.address, "--gpus-per-run", "0.5", "-o", str(unused)]
        )
        == 2
    )
    assert "--gpus-per-run 0.5: the Ray cluster at" in capsys.readouterr().err and not unused.exists()

    _fresh(folder)
    _compare(folder, settings, RayRunner(cluster.address))
    rows = _keep(folder, "spread")
    assert {row["node_id"] for row in rows} == {cluster.head, cluster.second}  # each node's runs in the CSV
    assert _unmeasured(rows) == _unmeasured(local_rows)  # the same table, timings and places aside
    failed = [row for row in rows if row["status"] == "failed"]
    assert [row["variant"] for row in failed] == ["learning_rate=1e+30"] * SEEDS
    assert all(row["error"] == "ValueError: Training loss is nan" and row["node_id"] for row in failed)
    assert len([row for row in rows if row["status"] == "ok"]) == 2 * SEEDS
    for row in rows:
        if row["status"] == "ok":
            assert (folder / "spread" / row["checkpoint"]).is_file()
        # Shared storage: every run, failed ones too, wrote its log straight into DIR, in one attempt.
        (attempt,) = _attempts(folder / "spread", _name(row))
        assert f"on node {row['node_id']}" in attempt
    local_md = (folder / "local" / "comparison.md").read_text()
    cluster_md = (folder / "spread" / "comparison.md").read_text()
    assert _table_without_costs(cluster_md) == _table_without_costs(local_md)
    assert "each run a Ray task on the cluster at" in cluster_md


def _wait_for_a_run_mid_way_on(node_id, output, timeout=300):
    """The name of a run on `node_id` half-way: its -last.pth exists (an epoch done; a finished run removes it)."""
    deadline = time.monotonic() + timeout
    console = output / "log" / "console"
    while time.monotonic() < deadline:
        for log in console.glob("*.log") if console.is_dir() else []:
            name = log.stem
            if f"on node {node_id}" in log.read_text() and list((output / "saved").glob(f"{name}-*-last.pth")):
                return name
        time.sleep(0.05)
    raise AssertionError(f"no run on node {node_id} reached the end of an epoch in {timeout} s")


def test_a_node_killed_mid_run_loses_nothing(data, local_rows, cluster):
    folder, settings = data
    _fresh(folder)
    errors = []

    def run():
        try:
            _compare(folder, settings, RayRunner(cluster.address))
        except BaseException as error:  # noqa: B036  reported by the test thread below
            errors.append(error)

    driver = threading.Thread(target=run)
    driver.start()
    victim = _wait_for_a_run_mid_way_on(cluster.second, folder / "cmp")
    cluster.kill_second()
    driver.join(timeout=900)
    assert not driver.is_alive() and not errors, errors

    attempts = _attempts(folder / "cmp", victim)
    rows = _keep(folder, "killed")
    assert _unmeasured(rows) == _unmeasured(local_rows)  # complete, and the same table as on one machine
    # The killed run went on where its last finished epoch left it, on the node that was left.
    assert len(attempts) == 2, attempts
    assert attempts[0].endswith("from its first epoch") and f"on node {cluster.second}" in attempts[0]
    assert f"on node {cluster.head}" in attempts[1] and "resuming from" in attempts[1] and "-last.pth" in attempts[1]
    (row,) = [row for row in rows if _name(row) == victim]
    assert (row["status"], row["node_id"], row["epochs_run"]) == ("ok", cluster.head, str(EPOCHS))


def _epochs_recorded(last):
    """Epochs the run's -last.json records so far (0 before the first)."""
    try:
        with open(history_path(str(last)), encoding="utf-8") as f:
            return len(json.load(f)["epoch_seconds"])
    except (OSError, ValueError):
        return 0


def _wait_until_still(last, what):
    """Wait until the run's record has not moved for longer than an epoch on a loaded machine."""
    seen, still_since, deadline = None, time.monotonic(), time.monotonic() + 120
    while time.monotonic() - still_since < 15:
        assert time.monotonic() < deadline, f"the run went on training after {what}"
        now = os.stat(history_path(str(last))).st_mtime if os.path.exists(history_path(str(last))) else None
        if now != seen:
            seen, still_since = now, time.monotonic()
        time.sleep(0.2)


def test_a_stopped_or_killed_driver_resumes_when_rerun(data, cluster):
    folder, settings = data
    yaml_file = folder / "settings.yaml"
    yaml_file.write_text("".join(f"{key}: {value!r}\n" for key, value in settings.items()))
    output = folder / "driver"
    shutil.rmtree(output, ignore_errors=True)
    command = [sys.executable, os.path.join(REPO, "run_hydrarec.py"), "compare", "--address", cluster.address]
    command += ["--dataset", "syn", "--models", "SASRec", "--seeds", "1", "--output", str(output)]
    command += ["--config_files", str(yaml_file)]
    environment = dict(os.environ, OMP_NUM_THREADS="1")
    saved = output / "saved"

    def start_and_wait(epochs_before):
        """A driver, once its run has recorded more than `epochs_before` epochs; (process, its -last.pth)."""
        process = subprocess.Popen(
            command, cwd=str(folder), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=environment
        )
        deadline = time.monotonic() + 300
        while True:
            found = list(saved.glob("*-last.pth")) if saved.is_dir() else []
            if found and _epochs_recorded(found[0]) > epochs_before:
                return process, found[0]
            assert process.poll() is None and time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.05)

    # `kill` (SIGTERM) stops the driver like Ctrl-C: it cancels its run on the cluster and says how to go on.
    first, last = start_and_wait(0)
    first.terminate()
    _, err = first.communicate(timeout=120)
    assert first.returncode == 130 and "rerun the same command to resume" in err
    _wait_until_still(last, "its driver was stopped")
    stopped_at = _epochs_recorded(last)

    # kill -9: nothing of the driver runs; Ray ends a dead driver's tasks, and the run ends with its task.
    second, _ = start_and_wait(stopped_at)  # it went on from where the first left it
    second.kill()
    second.wait()
    _wait_until_still(last, "its driver was killed")
    assert last.is_file() and not read_rows(output / "comparison.csv")

    rerun = subprocess.run(command, cwd=str(folder), capture_output=True, text=True, env=environment, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert f"resumed from {last}" in rerun.stdout
    (row,) = read_rows(output / "comparison.csv")
    assert row["status"] == "ok" and row["epochs_run"] == str(EPOCHS)  # the epochs before the kills count too
    assert not last.exists()
    attempts = _attempts(output, "SASRec-causal-2020")
    assert len(attempts) == 3 and all("resuming from" in attempt for attempt in attempts[1:])


def test_nodes_without_shared_storage_send_their_files_back(data, local_rows, cluster):
    folder, settings = data
    _fresh(folder)
    # ship=True: every node runs in a scratch folder of its own, as where the output folder is not shared.
    _compare(folder, settings, RayRunner(cluster.address, ship=True), models=MODELS[:2])
    token = (folder / "cmp" / STORAGE_MARK).read_text()
    rows = _keep(folder, "shipped")
    assert {row["node_id"] for row in rows} == {cluster.head, cluster.second}
    assert _unmeasured(rows) == _unmeasured(local_rows[:2])
    for row in rows:
        assert (folder / "shipped" / row["checkpoint"]).is_file()  # the best checkpoint came back
        name = _name(row)
        assert _attempts(folder / "shipped", name)[0].endswith("from its first epoch")  # its log came back
        resolved = load_yaml(folder / "shipped" / "configs" / f"{name}.resolved.yaml")
        assert resolved["checkpoint_dir"] == str(folder / "cmp" / "saved")  # the driver's folder, not the node's
    scratch = os.path.join(tempfile.gettempdir(), "hydrarec-compare", token)
    assert not os.path.isdir(scratch) or os.listdir(scratch) == []  # nothing left on the nodes


def test_tune_finishes_a_small_search_on_the_cluster(data, cluster, tmp_path):
    folder, settings = data
    settings = {key: value for key, value in settings.items() if key not in ("epochs", "stopping_step")}
    text, finished = tune_models(
        ["SASRec"],
        "syn",
        num_samples=2,
        max_epochs=2,
        output_dir=str(tmp_path / "tuning"),
        overrides=settings,
        address=cluster.address,
        command="tune (cluster test)",
    )
    assert finished and "| SASRec" in text
    (summary,) = read_rows(tmp_path / "tuning" / "tuning_summary.csv")
    assert summary["status"] == "ok" and 0 <= float(summary["test_ndcg@5"]) <= 1
    trials = read_rows(tmp_path / "tuning" / "trials.csv")
    assert len(trials) == 2 and {t["node_id"] for t in trials} <= {cluster.head, cluster.second}
    assert all(t["status"] == "ok" and t["device"] == "cpu" for t in trials)
    # Without shared storage the best trial is tested on its node: the same metrics as here.
    checkpoint = summary["checkpoint"]
    assert evaluate_on_node(checkpoint, cluster.second) == evaluate_on_test(checkpoint)
