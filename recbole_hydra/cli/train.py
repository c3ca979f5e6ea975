"""`run_hydrarec.py [train]`: train and test one model, like RecBole's run_recbole.py."""

import os
import sys

from recbole_hydra.cli.args import (
    INTERRUPTED,
    add_config_files,
    command_line,
    command_parser,
    stop_signals_as_interrupt,
)
from recbole_hydra.experiments.reports.tables import metrics_table
from recbole_hydra.runtime.config import build_config, parse_overrides
from recbole_hydra.runtime.datasets import check_dataset
from recbole_hydra.runtime.run_checks import check_resume_checkpoint
from recbole_hydra.runtime.training import TrainingInterrupted, train_and_test


def parser():
    p = command_parser(
        prog="run_hydrarec.py [train]",
        description="Train and test one model (HydraRec or any RecBole model). "
        "Extra RecBole settings go as --key=value, e.g. --epochs=5 --bidirectional=True.",
    )
    p.add_argument("--model", "-m", default="HydraRec", help="HydraRec or any RecBole model name")
    p.add_argument("--dataset", "-d", default="ml-100k", help="dataset name (ml-100k ships with RecBole)")
    add_config_files(p)
    p.add_argument(
        "--resume",
        metavar="CHECKPOINT",
        help="continue training from a checkpoint: the X-last.pth an interrupted run names, or X.pth",
    )
    return p


def resume_command(argv, checkpoint):
    """The command line that continues this run from `checkpoint`."""
    kept, skip = [], False
    for arg in argv:
        if skip or arg.startswith("--resume="):
            skip = False
            continue
        if arg == "--resume":
            skip = True
            continue
        kept.append(arg)
    program = sys.argv[0] if sys.argv and sys.argv[0] else "run_hydrarec.py"
    prefix = ["python", program] if program.endswith(".py") else [os.path.basename(program)]  # as it was started
    return command_line("train", kept + ["--resume", checkpoint], program=prefix)


def run(argv):
    args, rest = parser().parse_known_args(argv)
    with stop_signals_as_interrupt():
        try:
            result = _train(args, rest)
        except TrainingInterrupted as stop:
            if stop.checkpoint is None:
                print("interrupted before the first checkpoint was saved; nothing to resume", file=sys.stderr)
            else:
                after = f" after epoch {stop.epoch}" if stop.epoch is not None else ""
                print(
                    f"interrupted{after}; checkpoint {stop.checkpoint}; resume with: "
                    f"{resume_command(argv, stop.checkpoint)}",
                    file=sys.stderr,
                )
            return INTERRUPTED
        except KeyboardInterrupt:
            print("interrupted before training started; no checkpoint was saved", file=sys.stderr)
            return INTERRUPTED
    print(
        f"\n{result.model} on {result.dataset}: best epoch {result.best_epoch}, "
        f"{result.train_seconds_per_epoch:.1f} s per training epoch, checkpoint {result.checkpoint}"
    )
    print(metrics_table(result.valid_result, result.test_result))
    print(f"Ranking: {result.ranking}; training ended by {result.stopped_by}.")
    if result.test_result_all_items:  # exclude_seen: the same model under RecBole's protocol too
        print("Test with every item ranked (RecBole's protocol for sequential models):")
        print(metrics_table({}, result.test_result_all_items))
    return 0


def _train(args, rest):
    config = build_config(args.model, args.dataset, args.config_files, parse_overrides(rest))
    check_dataset(config)  # before anything writes log/ or saved/
    resume_state = check_resume_checkpoint(args.resume, config) if args.resume else None
    return train_and_test(config, resume_file=args.resume, resume_state=resume_state)
