"""A trained causal HydraRec as an HTTP service (`run_hydrarec.py serve`; docs/serving.md).

store.py          the event store's interface: per-user logs, sequence numbers, conditional appends
sqlite_store.py   the embedded backend: one SQLite file in WAL mode
redis_store.py    the shared backend: Redis, for several processes or machines
stores.py         which backend a --store names
models.py         the served checkpoint: checked, versioned, its user states and cold-start list
baseline.py       the recompute baseline's states (the last N events, re-encoded per request)
engine.py         the worker that applies events in order, durably, and answers; hot swap
payloads.py       request bodies checked, one-line errors naming the field
metrics.py        Prometheus metrics
app.py            the FastAPI routes
server.py         one process under uvicorn
ray_serve.py      replicas on Ray Serve, sharing Redis

May import `online/`, `runtime/` (never RecBole directly), `model/` and the leaf modules; nothing
below `cli/` and `experiments/` imports this room.
"""
