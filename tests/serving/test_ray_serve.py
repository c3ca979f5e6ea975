"""Two Ray Serve replicas on a local two-node Ray cluster, sharing one Redis store: requests spread over
both, and one user's events, posted one after the other through whichever replica Serve picks, keep
their order; every replica answers with the state a replay of the log gives.

Slow (a cluster, Serve's controller and proxy, two model loads): marked `cluster`, as
tests/experiments/test_cluster.py is; `.ci/run` runs it (`pytest -m cluster`).
"""

import os
import threading
import time

import httpx
import pytest

from recbole_hydra.serving import models
from recbole_hydra.serving.stores import open_store

from service_helpers import free_port

ray = pytest.importorskip("ray")
from recbole_hydra.serving import ray_serve  # noqa: E402

pytestmark = pytest.mark.cluster

CLIENTS = 3
EVENTS_PER_CLIENT = 40


@pytest.fixture
def cluster(monkeypatch):
    """A head and a second node with one CPU each on this machine, so that each replica has a node."""
    from ray._private.services import get_node_ip_address
    from ray.cluster_utils import Cluster

    monkeypatch.setenv("RAY_agent_register_timeout_ms", "300000")  # a loaded machine starts agents slowly
    loopback = "127.0.0.2" if get_node_ip_address() == "127.0.0.1" else "127.0.0.1"
    address_file = ray._private.utils.get_ray_address_file(None)
    previous = open(address_file).read() if os.path.exists(address_file) else None
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1, node_ip_address=loopback)
        ray.init(address=cluster.address, runtime_env=ray_serve.RUNTIME_ENV, log_to_driver=False)
        yield cluster
    finally:
        from ray import serve

        serve.shutdown()
        ray.shutdown()
        cluster.shutdown()
        if previous is None:
            if os.path.exists(address_file):
                os.remove(address_file)
        else:
            with open(address_file, "w") as f:
                f.write(previous)


def _wait_ready(http, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if http.get("/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"Ray Serve not answering after {timeout} s")


def _metric(text, name):
    return float(next(line for line in text.splitlines() if line.startswith(name + " ")).split()[1])


def test_two_replicas_sharing_redis_keep_each_users_order(cluster, checkpoints, redis_url):
    port = free_port()
    url = ray_serve.deploy(checkpoints["causal"], redis_url, replicas=2, port=port, cpus_per_replica=1)
    http = httpx.Client(base_url=url, timeout=60)
    _wait_ready(http)
    replicas = {http.get("/health").json()["replica"] for _ in range(30)}
    assert len(replicas) == 2, replicas  # Serve spreads requests over both

    sent, seqs, errors = {}, {}, []

    def client(c):
        """One user written by this client alone, and one user every client writes to in turn."""
        with httpx.Client(base_url=url, timeout=60) as mine:
            for n in range(EVENTS_PER_CLIENT):
                for user in (f"c{c}", "shared"):
                    item = f"i{(c * 11 + n) % 30}"
                    reply = mine.post("/events", json={"user": user, "item": item})
                    if reply.status_code != 200:
                        errors.append(reply.text)
                        return
                    if user != "shared":
                        sent.setdefault(user, []).append(item)
                        seqs.setdefault(user, []).extend(reply.json()["seqs"])
                    mine.get("/recommend", params={"user": f"c{(c + 1) % CLIENTS}"})

    threads = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []

    store = open_store(redis_url)
    logs = store.read({user: 0 for user in store.all_seqs()})
    store.close()
    for user, items in sent.items():  # posted one after the other: logged in that order, numbered 1, 2, ...
        assert [e.item for e in logs[user]] == items
        assert seqs[user] == list(range(1, EVENTS_PER_CLIENT + 1))
    assert len(logs["shared"]) == CLIENTS * EVENTS_PER_CLIENT
    assert [e.seq for e in logs["shared"]] == list(range(1, CLIENTS * EVENTS_PER_CLIENT + 1))

    users = sorted(logs)
    states = models.load(checkpoints["causal"]).new_states()
    states.replay(users, [[e.item for e in logs[user]] for user in users])
    expected = [r.items for r in states.recommend_many(users, 5)]
    for _ in range(6):  # both replicas answer: each must have caught up with what the other took
        reply = http.post("/recommend", json={"users": users, "k": 5}).json()
        assert [r["items"] for r in reply["results"]] == expected
    caught_up = [_metric(http.get("/metrics").text, "hydrarec_caught_up_users_total") for _ in range(10)]
    assert max(caught_up) > 0  # the sequence numbers did send replicas back to the log
    http.close()
