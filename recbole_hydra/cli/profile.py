"""`run_hydrarec.py profile`: where one training epoch's time goes, stage by stage, against a FLOP floor.

What is measured and how: experiments/epoch_profile.py.
"""

import os

import torch

from recbole_hydra.cli.args import add_config_files, command_line, command_parser, positive_int_arg
from recbole_hydra.experiments.epoch_profile import profile_epoch, write_profile
from recbole_hydra.runtime.config import build_config, parse_overrides
from recbole_hydra.runtime.datasets import check_dataset


def parser():
    p = command_parser(
        prog="run_hydrarec.py profile",
        description="Time one training epoch and one validation pass of a run, and each stage of the epoch "
        "(data, embeddings, token mixer, feed-forward, loss over the items, optimizer) against the FLOP floor "
        "of its matrix products. RecBole settings go as --key=value, as for train.",
    )
    p.add_argument("--model", "-m", default="HydraRec", help="HydraRec (the stages are HydraRec's)")
    p.add_argument("--dataset", "-d", default="ml-100k", help="dataset name (ml-100k ships with RecBole)")
    add_config_files(p)
    p.add_argument("--batches", type=positive_int_arg, default=10, help="batches whose stages are timed one by one")
    p.add_argument("--threads", type=positive_int_arg, default=1, help="torch CPU threads")
    p.add_argument("--output", default="profile_results", metavar="DIR", help="writes profile.md and profile.csv here")
    return p


def run(argv):
    args, rest = parser().parse_known_args(argv)
    torch.set_num_threads(args.threads)
    overrides = {"show_progress": False, **parse_overrides(rest)}
    config = build_config(args.model, args.dataset, args.config_files, overrides)
    check_dataset(config)
    result = profile_epoch(config, batches=args.batches)
    notes = [
        f"{args.model} on {args.dataset}: attention {config['attention']}, "
        f"{'bidirectional' if config['bidirectional'] else 'causal'}, train_scheme {config['train_scheme']}, "
        f"train_batch_size {config['train_batch_size']}, MAX_ITEM_LIST_LENGTH {config['MAX_ITEM_LIST_LENGTH']}, "
        f"torch {torch.__version__}.",
        "Command: `" + command_line("profile", argv) + "`",
    ]
    print(write_profile(result, args.output, notes))
    print(f"wrote {os.path.join(args.output, 'profile.md')} and profile.csv")
    return 0
