"""One service process: the model, the store and the engine, behind uvicorn on HOST:PORT.

uvicorn stops on SIGINT or SIGTERM after the requests in flight; the engine then finishes what it
queued and closes the store. A kill -9 loses nothing acknowledged: the store already holds it.
"""

import sys

import torch

from recbole_hydra.serving import models
from recbole_hydra.serving.app import create_app
from recbole_hydra.serving.engine import Engine
from recbole_hydra.serving.stores import open_store

DEFAULT_STORE = "hydrarec-store.sqlite"  # in the working folder
ADMIN_TOKEN_VARIABLE = "HYDRAREC_ADMIN_TOKEN"


def build_engine(checkpoint, store=DEFAULT_STORE, durability="full", data_path=None, recompute=False):
    """An Engine serving `checkpoint` over `store`. Raises models.ModelRefused or store.StoreError, one line."""
    served = models.load(checkpoint, recompute=recompute, data_path=data_path)
    return Engine(served, open_store(store, durability), data_path=data_path)


def run(engine, host="127.0.0.1", port=8000, admin_token=None):
    """Serve until SIGINT or SIGTERM."""
    import uvicorn

    app = create_app(engine, admin_token)
    print(
        f"serving {engine.served.version} ({engine.served.describe()}) on http://{host}:{port} "
        f"(OpenAPI page /docs); store: {engine.store.description}; admin routes {'on' if admin_token else 'off'}; "
        f"torch threads: {torch.get_num_threads()}",
        file=sys.stderr,
        flush=True,
    )
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        engine.close()
