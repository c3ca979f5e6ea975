"""`run_hydrarec.py [train]`: train and test one model, like RecBole's run_recbole.py."""

import argparse

from recbole_hydra.config import build_config, parse_overrides
from recbole_hydra.pipeline import train_and_test
from recbole_hydra.results import metrics_table


def parser():
    p = argparse.ArgumentParser(
        prog="run_hydrarec.py [train]",
        description="Train and test one model (HydraRec or any RecBole model). "
        "Extra RecBole settings go as --key=value, e.g. --epochs=5 --bidirectional=True.",
    )
    p.add_argument("--model", "-m", default="HydraRec", help="HydraRec or any RecBole model name")
    p.add_argument("--dataset", "-d", default="ml-100k", help="dataset name (ml-100k ships with RecBole)")
    p.add_argument("--config_files", nargs="*", default=[], help="RecBole yaml files, later ones win")
    p.add_argument("--resume", metavar="CHECKPOINT", help="continue training from a RecBole checkpoint")
    return p


def run(argv):
    args, rest = parser().parse_known_args(argv)
    # RecBole's run_recbole.py takes --config_files as one space-separated string; accept both.
    config_files = [path for entry in args.config_files for path in entry.split()]
    config = build_config(args.model, args.dataset, config_files, parse_overrides(rest))
    result = train_and_test(config, resume_file=args.resume)
    print(f"\n{result.model} on {result.dataset}: best epoch {result.best_epoch}, "
          f"{result.train_seconds_per_epoch:.1f} s per training epoch, checkpoint {result.checkpoint}")
    print(metrics_table(result.valid_result, result.test_result))
    return 0
