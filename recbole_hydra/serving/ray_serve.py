"""Several replicas of the service on Ray Serve (Ray 2.6.3, as RecBole pins it), sharing a Redis store.

Each replica is one Engine with the app of app.py, in a Ray actor; Ray Serve's HTTP proxy spreads
requests over them. Nothing routes a user to one replica: per-user order holds because the store
appends only on top of the sequence number the writer last saw (store.py), so a replica that is
behind on a user catches up from the log and retries, and every read checks the user's sequence
number first. A replica's admin route is off (it would swap that replica alone): deploy the new
checkpoint instead, and Serve replaces the replicas one by one (`deploy` again).

Ray 2.6.3 predates Python 3.11, and its HTTP proxy's router fails there (asyncio.wait no longer
wraps coroutines; random.sample no longer takes a set). `proxy_setup` runs in the proxy process at
its start, through Serve's own hook (RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH, set in
RUNTIME_ENV), and restores both; it changes nothing elsewhere.
"""

import asyncio
import random
import time

import ray
from ray import serve
from ray.serve._private.http_util import ASGIAppReplicaWrapper  # Ray 2.6.3: a replica that is an ASGI app

from recbole_hydra.serving.app import create_app
from recbole_hydra.serving.server import build_engine

APP_NAME = "hydrarec"
RUNTIME_ENV = {
    "env_vars": {
        "RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH": f"{__name__}.proxy_setup",
        # Importing this module imports recbole_hydra (torch, RecBole): on a busy machine the proxy
        # takes longer than Serve's 5 s to report ready, and is restarted for ever.
        "RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S": "120",
    }
}


async def _wait_wrapping_coroutines(fs, **kwargs):
    """asyncio.wait as Ray 2.6.3 expects it: coroutines are wrapped in tasks (Python < 3.11 did that)."""
    return await _ASYNCIO_WAIT([asyncio.ensure_future(f) if asyncio.iscoroutine(f) else f for f in fs], **kwargs)


_ASYNCIO_WAIT = asyncio.wait


class _SampleFromSets:
    """router.py's `random` module, whose sample() also takes a set, as before Python 3.11."""

    def __getattr__(self, name):
        return getattr(random, name)

    @staticmethod
    def sample(population, k):
        return random.sample(sorted(population) if isinstance(population, (set, frozenset)) else population, k)


def proxy_setup():
    """Serve's HTTP proxy callback: the Python 3.11 fixes above; no middleware."""
    from ray.serve._private import router

    asyncio.wait = _wait_wrapping_coroutines
    router.random = _SampleFromSets()
    return []


@serve.deployment
class Replica(ASGIAppReplicaWrapper):
    def __init__(self, settings):
        import torch

        torch.set_num_threads(settings["threads"])
        engine = build_engine(
            settings["checkpoint"],
            settings["store"],
            settings["durability"],
            settings["data_path"],
            settings["recompute"],
        )
        app = create_app(engine, admin_token=None, admin_off="Ray Serve replicas change models by a new deployment")
        app.router.on_shutdown.append(engine.close)
        ASGIAppReplicaWrapper.__init__(self, app)


def deploy(checkpoint, store, replicas, host="127.0.0.1", port=8000, cpus_per_replica=1.0, **settings):
    """Start (or update: a rolling replacement) the service on the connected Ray cluster; returns its URL.

    The driver must have joined with RUNTIME_ENV (connect() does) so that the proxy gets its fixes.
    settings: durability, data_path, recompute, threads (server.build_engine's and torch's).
    """
    settings = dict({"durability": "full", "data_path": None, "recompute": False, "threads": 1}, **settings)
    settings.update(checkpoint=checkpoint, store=store)
    # One HTTP proxy, on the head node. serve.run then warns that its own options (a proxy on every
    # node) are ignored, which is what we want.
    serve.start(detached=False, http_options={"host": host, "port": port})
    deployment = Replica.options(num_replicas=replicas, ray_actor_options={"num_cpus": cpus_per_replica})
    serve.run(deployment.bind(settings), host=host, port=port, name=APP_NAME, route_prefix="/")
    return f"http://{host}:{port}"


def connect(address=None):
    """Join the Ray cluster at `address` (None: a local one) with the proxy fixes in the job's runtime env."""
    ray.init(address=address, runtime_env=RUNTIME_ENV, include_dashboard=False, log_to_driver=False)


def run(checkpoint, store, replicas, address, host, port, **settings):
    """`serve --replicas R`: deploy, then serve until Ctrl-C."""
    connect(address)
    try:
        url = deploy(checkpoint, store, replicas, host, port, **settings)
        print(f"serving {checkpoint} on {url} with {replicas} Ray Serve replica(s); store: {store}; Ctrl-C stops")
        while True:  # Serve lives as long as this driver (detached=False)
            time.sleep(3600)
    except KeyboardInterrupt:
        return 130
    finally:
        serve.shutdown()
        ray.shutdown()
