"""`run_hydrarec.py claims`: the paper's claims as one comparison (experiments/claims.py); every other
option is `compare`'s."""

import argparse

from recbole_hydra.cli import compare as compare_cli
from recbole_hydra.experiments.claims import PEER_BUDGET, PEERS, claims_models, references


def parser():
    p = argparse.ArgumentParser(
        prog="run_hydrarec.py claims",
        description="Compare HydraRec with the softmax, linrec and elu mixers in the same skeleton (both modes) "
        f"and with RecBole's {', '.join(PEERS)} (trained per prefix with {PEER_BUDGET}); ratios over the softmax "
        "control of each mode. Every other option is compare's (--dataset, --seeds, --output, --jobs, --threads, "
        "--key=value ...): see `run_hydrarec.py compare -h`.",
    )
    p.add_argument(
        "--no-peers",
        action="store_true",
        help="leave RecBole's models out (they train per prefix: hours per epoch on ml-1m at N = 200)",
    )
    p.add_argument(
        "--extra-models",
        nargs="+",
        default=[],
        metavar="MODEL",
        help="more rows in the same table, e.g. HydraRec:causal:train_scheme=prefix",
    )
    return p


def run(argv):
    args, rest = parser().parse_known_args(argv)
    models = claims_models(peers=not args.no_peers, extra=args.extra_models)
    return compare_cli.run([*rest, "--models", *models, "--reference", *references()])
