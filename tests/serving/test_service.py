"""The real server (`run_hydrarec.py serve` under uvicorn, in a subprocess on 127.0.0.1) over HTTP: events
in, recommendations out, equal to the same events streamed here; cold start; bad input; health,
metrics, OpenAPI; refused checkpoints."""

import collections
import json
import os

import pytest

from recbole_hydra.cli import main
from recbole_hydra.serving import models

from service_helpers import Server

TOKEN = "test-token"


@pytest.fixture(scope="module")
def server(checkpoints, tmp_path_factory):
    folder = tmp_path_factory.mktemp("service")
    server = Server(checkpoints["causal"], str(folder / "store.sqlite"), "--admin-token", TOKEN, cwd=str(folder))
    yield server.wait_ready()
    server.stop()


@pytest.fixture(scope="module")
def served(checkpoints):
    """The same checkpoint loaded here, to replay what the server was sent."""
    return models.load(checkpoints["causal"])


def replayed(served, histories, users, k, exclude_seen=True):
    states = served.new_states()
    states.replay(list(histories), list(histories.values()))
    return states.recommend_many(users, k, exclude_seen)


def items_of(n):
    return [f"i{n % 30}" for n in range(n, n + 3)]


def test_events_then_recommendations_equal_the_same_events_streamed_here(server, served):
    sent = collections.defaultdict(list)
    one = server.client.post("/events", json={"user": "alice", "item": "i1", "timestamp": 1.0})
    assert one.status_code == 200 and one.json() == {"model_version": served.version, "accepted": 1, "seqs": [1]}
    sent["alice"].append("i1")
    batch = [{"user": user, "item": item} for n, user in enumerate(["bob", "alice", "carol"]) for item in items_of(n)]
    batch += [{"user": "bob", "item": f"i{n}"} for n in range(5, 5 + 12)]  # bob passes N = 8: the window slides
    reply = server.client.post("/events", params={"k": 4}, json=batch).json()
    for event in batch:
        sent[event["user"]].append(event["item"])
    assert reply["accepted"] == len(batch)
    assert reply["seqs"][:3] == [1, 2, 3] and reply["seqs"][3:6] == [2, 3, 4]  # per user, in order
    users = ["bob", "alice", "carol"]
    expected = replayed(served, sent, users, 4)
    assert [r["user"] for r in reply["recommendations"]] == users
    for got, want in zip(reply["recommendations"], expected):
        assert got["items"] == want.items and got["scores"] == pytest.approx(want.scores, rel=1e-5)
        assert got["cold_start"] is None

    single = server.client.get("/recommend", params={"user": "bob", "k": 6}).json()
    (want,) = replayed(served, sent, ["bob"], 6)
    assert single["model_version"] == served.version and single["items"] == want.items
    assert not set(single["items"]) & set(sent["bob"])  # seen items left out by default
    with_seen = server.client.get("/recommend", params={"user": "bob", "k": 6, "exclude_seen": False}).json()
    assert with_seen["items"] == replayed(served, sent, ["bob"], 6, exclude_seen=False)[0].items
    many = server.client.post("/recommend", json={"users": users + ["nobody"], "k": 3}).json()
    assert [r["items"] for r in many["results"][:3]] == [r.items for r in replayed(served, sent, users, 3)]
    assert many["results"][3]["cold_start"]


def test_a_new_user_gets_the_most_popular_items_and_is_told_so(server, served_data):
    folder, _ = served_data
    with open(folder / "syn" / "syn.inter") as f:
        counts = collections.Counter(line.split("\t")[1] for line in list(f)[1:])
    reply = server.client.get("/recommend", params={"user": "a-stranger", "k": 5}).json()
    assert "most popular" in reply["cold_start"]
    assert reply["scores"] == sorted((float(n) for n in counts.values()), reverse=True)[:5]
    assert all(counts[item] == score for item, score in zip(reply["items"], reply["scores"]))


BAD = [  # (method, path, query, body, what the one-line error must name)
    ("post", "/events", None, {"user": "u"}, "item: missing"),
    ("post", "/events", None, [{"user": "u", "item": "i1"}, {"item": "i2"}], "events[1].user: missing"),
    ("post", "/events", None, [{"user": "u", "item": "i1", "colour": "red"}], "events[0].colour: unknown field"),
    ("post", "/events", None, {"user": ["u"], "item": "i1"}, "user: expected a string or an integer"),
    ("post", "/events", None, {"user": "u", "item": "i1", "timestamp": "noon"}, "timestamp: expected a finite"),
    ("post", "/events", None, {"user": "", "item": "i1"}, "user: expected 1 to 256 printable"),
    ("post", "/events", None, [], "body: the list of events is empty"),
    ("post", "/events", None, "i1", "body: expected an event"),
    ("post", "/events", {"k": 0}, {"user": "u", "item": "i1"}, "k: expected an integer from 1"),
    ("get", "/recommend", {"k": 3}, None, "user: field required"),
    ("get", "/recommend", {"user": "u", "k": "many"}, None, "k: value is not a valid integer"),
    ("get", "/recommend", {"user": "u", "k": 5000}, None, "k: expected an integer from 1 to 1000"),
    ("post", "/recommend", None, {"users": []}, "users: expected a non-empty list"),
    ("post", "/recommend", None, {"users": ["u"], "k": 2.5}, "k: expected an integer"),
    ("post", "/recommend", None, {"users": ["u"], "exclude_seen": "no"}, "exclude_seen: expected true or false"),
]


@pytest.mark.parametrize("method, path, query, body, named", BAD, ids=[case[-1].split(":")[0] for case in BAD])
def test_a_malformed_request_is_400_with_one_line_naming_the_field(server, method, path, query, body, named):
    kwargs = {"params": query} if query else {}
    if body is not None:
        kwargs["json"] = body
    reply = getattr(server.client, method)(path, **kwargs)
    assert reply.status_code == 400, reply.text
    assert list(reply.json()) == ["error"] and "\n" not in reply.json()["error"]
    assert named in reply.json()["error"]


def test_a_body_that_is_not_json_is_400(server):
    reply = server.client.post("/events", content=b"{user: u", headers={"content-type": "application/json"})
    assert reply.status_code == 400 and reply.json()["error"].startswith("body: not JSON")


def test_an_unknown_item_is_404_naming_it_and_nothing_changes(server):
    first = server.client.post("/events", json={"user": "dora", "item": "i3"}).json()
    before = server.client.get("/recommend", params={"user": "dora"}).json()
    reply = server.client.post("/events", json=[{"user": "dora", "item": "i4"}, {"user": "eve", "item": "no-such"}])
    assert reply.status_code == 404
    assert reply.json()["error"].startswith("events[1].item: unknown item 'no-such'")
    assert server.client.get("/recommend", params={"user": "dora"}).json() == before
    assert server.client.get("/recommend", params={"user": "eve"}).json()["cold_start"]  # eve was not created
    assert server.client.post("/events", json={"user": "dora", "item": "i4"}).json()["seqs"] == [first["seqs"][0] + 1]


def test_health_metrics_and_the_openapi_page(server, served):
    health = server.client.get("/health").json()
    assert health["status"] == "ok" and health["model_version"] == served.version
    assert health["store"].startswith("sqlite ") and "synchronous=FULL" in health["store"]
    server.client.post("/events", json={"user": "frank", "item": "i2"})
    metrics = server.client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert 'hydrarec_requests_total{route="/events",status="200"}' in text
    assert 'hydrarec_request_seconds_bucket{le="0.01",route="/events"}' in text
    assert f'hydrarec_model_info{{version="{served.version}"}} 1.0' in text
    held = next(line for line in text.splitlines() if line.startswith("hydrarec_users_held "))
    assert float(held.split()[1]) == server.client.get("/health").json()["users_held"] >= 1
    assert "hydrarec_events_total" in text and "hydrarec_store_append_seconds_bucket" in text
    schema = server.client.get("/openapi.json").json()
    assert {"/events", "/recommend", "/health", "/metrics", "/admin/model"} <= set(schema["paths"])
    assert "oneOf" in json.dumps(schema["paths"]["/events"]["post"]["requestBody"])
    assert server.client.get("/docs").status_code == 200


def test_the_server_listens_on_loopback_only(server):
    if not os.path.exists("/proc/net/tcp"):
        pytest.skip("reads Linux's /proc/net/tcp")
    port = f"{server.port:04X}"
    with open("/proc/net/tcp") as f:
        listening = [line.split()[1] for line in f if line.split()[3] == "0A"]  # state LISTEN
    assert [address for address in listening if address.endswith(":" + port)] == ["0100007F:" + port]  # 127.0.0.1


@pytest.mark.parametrize(
    "name, reason",
    [
        ("bidirectional", "a bidirectional HydraRec"),
        ("softmax", "attention 'softmax' has no recurrent state"),
        ("sasrec", "a SASRec checkpoint"),
        ("missing", "no such checkpoint file"),
        ("text", "is not a RecBole checkpoint"),
    ],
)
def test_a_checkpoint_the_service_cannot_stream_is_refused_in_one_line(server, checkpoints, name, reason, tmp_path):
    path = checkpoints.get(name, str(tmp_path / f"{name}.pth"))
    if name == "text":
        with open(path, "w") as f:
            f.write("not a checkpoint\n")
    version = server.client.get("/health").json()["model_version"]
    auth = {"authorization": f"Bearer {TOKEN}"}
    reply = server.client.post("/admin/model", json={"checkpoint": path}, headers=auth)
    assert reply.status_code == 422, reply.text
    error = reply.json()["error"]
    assert "\n" not in error and reason in error and error.endswith(f"still serving {version}")
    assert server.client.get("/health").json()["model_version"] == version
    # The command line refuses it the same way, before any data is read: exit 2, one line.
    if name in ("bidirectional", "softmax", "sasrec"):
        assert main(["serve", "--checkpoint", path, "--store", str(tmp_path / "s.sqlite")]) == 2


def test_admin_routes_need_the_token_and_are_off_without_one(server, checkpoints, start_server):
    body = {"checkpoint": checkpoints["causal-retrained"]}
    assert server.client.post("/admin/model", json=body).status_code == 401
    wrong = server.client.post("/admin/model", json=body, headers={"authorization": "Bearer guess"})
    assert wrong.status_code == 401 and "authorization" in wrong.json()["error"]
    off = start_server(checkpoints["causal"])
    reply = off.client.post("/admin/model", json=body, headers={"authorization": f"Bearer {TOKEN}"})
    assert reply.status_code == 403 and "--admin-token" in reply.json()["error"]


def test_command_line_errors_are_one_line(checkpoints, tmp_path, capsys):
    store = str(tmp_path / "no-such-folder" / "store.sqlite")
    assert main(["serve", "--checkpoint", checkpoints["causal"], "--store", store]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("error: --store:") and "does not exist" in err
