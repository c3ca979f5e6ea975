"""`run_hydrarec.py claims`: the paper's claims as one comparison (experiments/grids/claims.py); every other
option is `compare`'s."""

import os

from recbole_hydra.cli import compare as compare_cli
from recbole_hydra.cli.args import command_parser
from recbole_hydra.config_errors import ConfigError
from recbole_hydra.experiments.compare import CSV_NAME
from recbole_hydra.experiments.grids.claims import PEER_SETTINGS, PEERS, claims_models, references
from recbole_hydra.experiments.reports.claims_report import CLAIMS_NAME, write_claims_report


def parser():
    p = command_parser(
        prog="run_hydrarec.py claims",
        description="Compare HydraRec with the softmax, linrec and elu mixers in the same skeleton (both modes) "
        f"and with RecBole's {', '.join(PEERS)} (trained per prefix with {PEER_SETTINGS}); every row under the same "
        "budget (--epochs, --stopping_step, --eval_step, --train_time_budget); ratios over the softmax "
        "control of each mode, in DIR/claims.md (each mixer at the batch size its validation score prefers) "
        "and DIR/comparison.md (every row). Every other option is compare's (--dataset, --seeds, --output, "
        "--jobs, --threads, --key=value ...): see `run_hydrarec.py compare -h`.",
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
    p.add_argument(
        "--batch-sizes",
        nargs="+",
        type=int,
        default=[],
        metavar="N",
        help="windows a batch to try for every mixer besides each mode's default (which was chosen on Hydra's "
        "validation score), e.g. 32 128; claims.md shows each mixer at the size its own validation score prefers",
    )
    return p


def run(argv):
    args, rest = parser().parse_known_args(argv)
    if any(size <= 0 for size in args.batch_sizes):
        raise ConfigError(f"option --batch-sizes takes positive integers (windows a batch), got {args.batch_sizes}")
    models = claims_models(peers=not args.no_peers, extra=args.extra_models, batch_sizes=args.batch_sizes)
    forwarded = [*rest, "--models", *models, "--reference", *references()]
    code = compare_cli.run(forwarded)
    where, _ = compare_cli.parser().parse_known_args(forwarded)
    report = write_claims_report(
        os.path.join(where.output, CSV_NAME), os.path.join(where.output, CLAIMS_NAME), where.dataset
    )
    if report:
        print(f"claims: {report}")
    return code
