"""Hot swap under load: POST /admin/model while clients post events and ask for recommendations. No request
fails, each client sees the old version until the switch and the new one after, and the new model's
states equal a replay of the whole log with the new weights."""

import threading

from recbole_hydra.serving import models
from recbole_hydra.serving.stores import open_store

TOKEN = "swap-token"
CLIENTS = 3


def test_a_swap_under_load_fails_no_request_and_rebuilds_every_state(checkpoints, start_server, tmp_path):
    store = str(tmp_path / "store.sqlite")
    server = start_server(checkpoints["causal"], store, "--admin-token", TOKEN)
    old = server.client.get("/health").json()["model_version"]
    # Users with histories before the swap, some past N, so that the rebuild has work to do.
    warm = [{"user": f"w{u}", "item": f"i{(u * 7 + n) % 30}"} for u in range(12) for n in range(u + 2)]
    assert server.client.post("/events", json=warm).status_code == 200

    stop, replies, errors = threading.Event(), [[] for _ in range(CLIENTS)], []
    answering = threading.Barrier(CLIENTS + 1)  # the swap starts once every client has had replies

    def client(c):
        import httpx

        with httpx.Client(base_url=server.url, timeout=60) as http:
            n, last = 0, False
            while not last:
                # The round that starts after the swap has returned is the last: its replies must be
                # the new model's (a round already under way when it returned may still see the old).
                last = stop.is_set() and n >= 5
                user = f"c{c}-{n % 4}"
                event = http.post("/events", params={"k": 3}, json={"user": user, "item": f"i{(c + n) % 30}"})
                read = http.get("/recommend", params={"user": f"w{n % 12}", "k": 3})
                for reply in (event, read):
                    if reply.status_code != 200:
                        errors.append((reply.status_code, reply.text))
                    else:
                        replies[c].append(reply.json()["model_version"])
                n += 1
                if n == 3:
                    answering.wait(timeout=60)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
    for thread in threads:
        thread.start()
    answering.wait(timeout=60)
    try:
        swapped = server.client.post(
            "/admin/model",
            json={"checkpoint": checkpoints["causal-retrained"]},
            headers={"authorization": f"Bearer {TOKEN}"},
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert swapped.status_code == 200, swapped.text
    new = swapped.json()["model_version"]
    assert new != old and swapped.json()["previous_version"] == old and swapped.json()["users_rebuilt"] >= 12
    assert errors == []
    for seen in replies:  # old until the switch, new after: never back
        assert seen[0] == old
        assert set(seen) <= {old, new} and seen[-1] == new
        assert seen == sorted(seen, key=lambda version: version == new)
    assert server.client.get("/health").json()["model_version"] == new

    # Every user's state under the new model equals a replay of the log with the new weights.
    log = open_store(store)
    users = sorted(log.all_seqs())
    histories = {user: [e.item for e in entries] for user, entries in log.read({u: 0 for u in users}).items()}
    log.close()
    served = models.load(checkpoints["causal-retrained"])
    states = served.new_states()
    states.replay(list(histories), list(histories.values()))
    reply = server.client.post("/recommend", json={"users": users, "k": 5}).json()
    assert reply["model_version"] == new
    for got, want in zip(reply["results"], states.recommend_many(users, 5)):
        assert got["items"] == want.items
