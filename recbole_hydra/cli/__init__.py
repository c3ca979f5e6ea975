"""`run_hydrarec.py [SUBCOMMAND] ...`: thin argument parsing; the work lives in the package.

With no subcommand (or `train`) it behaves like RecBole's run_recbole.py. One module per subcommand
(SUBCOMMANDS below: train.py, compare.py, claims.py, tune.py, bench.py, stream_bench.py for `stream`,
profile.py, curves.py, defaults_table.py, convert.py, serve.py, serve_bench.py, lifelong_eval.py), and
args.py for what their parsing shares.
"""

import sys

from recbole_hydra.config_errors import ConfigError

SUBCOMMANDS = {
    "train": "recbole_hydra.cli.train",  # one model: train, validate, test (the default)
    "compare": "recbole_hydra.cli.compare",  # several models and seeds, one protocol, one table
    "claims": "recbole_hydra.cli.claims",  # the paper's claims: the token mixers and RecBole's peers, one table
    "tune": "recbole_hydra.cli.tune",  # Ray Tune search per model, same budget each
    "bench": "recbole_hydra.cli.bench",  # step time and memory against sequence length
    "stream": "recbole_hydra.cli.stream_bench",  # benchmark of online updates: update vs recompute
    "profile": "recbole_hydra.cli.profile",  # where a training epoch's time goes, against a FLOP floor
    "curves": "recbole_hydra.cli.curves",  # validation score against training time, from RecBole's logs
    "defaults-table": "recbole_hydra.cli.defaults_table",  # every candidate default on every dataset, one table
    "convert": "recbole_hydra.cli.convert",  # a CSV/TSV of interactions into RecBole atomic files
    "serve": "recbole_hydra.cli.serve",  # HTTP service: events in, recommendations out, states in a durable store
    "serve-bench": "recbole_hydra.cli.serve_bench",  # load test of serve: streamed states vs a recompute baseline
    "lifelong-eval": "recbole_hydra.cli.lifelong_eval",  # test accuracy of windowed vs whole-history states
}


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    name = argv[0] if argv and argv[0] in SUBCOMMANDS else "train"
    if argv and argv[0] == name:
        argv = argv[1:]
    if argv and argv[0] in ("-h", "--help") and name == "train" and not sys.argv[1:2] == ["train"]:
        print("subcommands: " + ", ".join(SUBCOMMANDS) + " (default: train)\n")
    module = __import__(SUBCOMMANDS[name], fromlist=["run"])
    try:
        return module.run(argv)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
