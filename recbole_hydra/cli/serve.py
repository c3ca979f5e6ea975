"""`run_hydrarec.py serve`: a trained causal HydraRec behind HTTP, its users' events in a durable store.

What the service does: recbole_hydra/serving/ and docs/serving.md.
"""

import argparse
import os

import torch

from recbole_hydra.cli.args import add_address, command_parser, positive_int_arg
from recbole_hydra.config_errors import ConfigError


def port_arg(text):
    value = positive_int_arg(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got {text!r}")
    return value


def parser():
    from recbole_hydra.serving.server import ADMIN_TOKEN_VARIABLE, DEFAULT_STORE

    p = command_parser(
        prog="run_hydrarec.py serve",
        description="Serve a trained causal HydraRec over HTTP: POST /events, GET /recommend, /health, /metrics, "
        "/docs. Each user's events are logged durably in the store before they are acknowledged.",
    )
    p.add_argument("--checkpoint", required=True, metavar="PATH", help="a trained causal HydraRec (RecBole .pth)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=port_arg, default=8000, help="port to listen on (default: 8000)")
    p.add_argument(
        "--store",
        default=DEFAULT_STORE,
        metavar="PATH|URL",
        help=f"the event store: a SQLite file (default: {DEFAULT_STORE} in the working folder), or Redis: "
        "redis://HOST:PORT/DB or unix:///PATH/redis.sock",
    )
    p.add_argument(
        "--durability",
        choices=["full", "relaxed"],
        default="full",
        help="full (default): an acknowledged event survives a power cut (SQLite fsyncs every commit; Redis must "
        "run with appendonly yes, appendfsync always). relaxed: it survives a kill of this server only (SQLite "
        "synchronous=NORMAL; Redis settings unchecked)",
    )
    p.add_argument(
        "--admin-token",
        default=None,
        help=f"token for POST /admin/model (default: ${ADMIN_TOKEN_VARIABLE}; neither: admin routes are off)",
    )
    p.add_argument(
        "--data-path",
        default=None,
        metavar="DIR",
        help="folder holding the checkpoint's dataset folder, if it moved since training",
    )
    p.add_argument(
        "--recompute",
        action="store_true",
        help="benchmark baseline: keep only each user's last N events and re-encode them at every "
        "recommendation (serves any causal HydraRec, attention softmax included)",
    )
    p.add_argument("--threads", type=positive_int_arg, default=1, help="torch CPU threads (default: 1)")
    p.add_argument(
        "--replicas",
        type=positive_int_arg,
        default=None,
        help="run on Ray Serve with this many replicas, which share a Redis --store (see docs/serving.md)",
    )
    add_address(p, "a local Ray instance, with --replicas")
    return p


def run(argv):
    from recbole_hydra.serving import models, server
    from recbole_hydra.serving.store import StoreError
    from recbole_hydra.serving.stores import is_redis_url

    args = parser().parse_args(argv)
    token = args.admin_token if args.admin_token is not None else os.environ.get(server.ADMIN_TOKEN_VARIABLE)
    if token is not None and not token.strip():
        raise ConfigError("--admin-token: empty; give a secret, or none to keep the admin routes off")
    if not os.path.isfile(args.checkpoint):
        raise ConfigError(f"--checkpoint: file not found: {args.checkpoint}")
    if args.replicas is not None:
        if not is_redis_url(args.store):
            raise ConfigError("--replicas: replicas share their users' logs through Redis; give --store redis://...")
        if args.admin_token is not None:
            raise ConfigError(
                "--admin-token: Ray Serve replicas have no admin routes; deploy the new checkpoint instead"
            )
        from recbole_hydra.serving import ray_serve

        return ray_serve.run(
            args.checkpoint,
            args.store,
            args.replicas,
            args.address,
            args.host,
            args.port,
            durability=args.durability,
            data_path=args.data_path,
            recompute=args.recompute,
            threads=args.threads,
        )
    torch.set_num_threads(args.threads)
    try:
        engine = server.build_engine(args.checkpoint, args.store, args.durability, args.data_path, args.recompute)
    except models.ModelRefused as error:
        raise ConfigError(f"--checkpoint: {error}") from None
    except StoreError as error:
        raise ConfigError(f"--store: {error}") from None
    server.run(engine, args.host, args.port, token)
    return 0
