"""`run_hydrarec.py tune`: a Ray Tune search per model, the same budget for each."""

import sys

from recbole_hydra.cli.args import (
    add_address,
    add_config_files,
    add_dataset_and_models,
    check_positive_ints,
    check_resources_args,
    command_line,
    command_parser,
)
from recbole_hydra.runtime.config import parse_overrides


def parser():
    p = command_parser(
        prog="run_hydrarec.py tune",
        description="Search each model's space (properties/search/<Model>.yaml) with Ray Tune: the same number "
        "of trials and epochs for every model, ASHA early stopping on the validation metric, Optuna TPE. "
        "Writes DIR/tuning_summary.csv and .md; rerun the same command to resume an interrupted search. "
        "Settings shared by every trial go as --key=value.",
    )
    add_dataset_and_models(p, "is searched")
    p.add_argument("--num-samples", type=int, default=20, help="trials per model and mode (default 20)")
    p.add_argument("--max-epochs", type=int, default=20, help="epochs per trial at most (default 20)")
    p.add_argument("--output", "-o", default="tuning", help="output folder (default ./tuning)")
    add_address(p, "a local Ray instance")
    p.add_argument("--cpus-per-trial", type=int, default=1, help="CPUs (and torch threads) per trial (default 1)")
    p.add_argument(
        "--gpus-per-trial",
        type=float,
        default=0.0,
        help="GPUs per trial, fractions allowed, e.g. 0.5 for two trials per GPU (default 0: the CPU)",
    )
    p.add_argument(
        "--num-cpus",
        type=int,
        default=None,
        help="CPUs the local Ray instance may use (default: all); trials run side by side as long as they fit",
    )
    p.add_argument("--spaces", default=None, help="folder of <Model>.yaml search spaces (default properties/search)")
    add_config_files(p, "RecBole yaml files shared by every trial")
    return p


def run(argv):
    args, rest = parser().parse_known_args(argv)
    check_positive_ints(args, "--num-samples", "--max-epochs", "--cpus-per-trial", "--num-cpus")
    check_resources_args(args, "--cpus-per-trial", "--gpus-per-trial")
    from recbole_hydra.experiments.tune import tune_models
    from recbole_hydra.runtime.defaults import SEARCH_SPACES_DIR

    command = command_line("tune", argv)
    table, finished = tune_models(
        args.models,
        args.dataset,
        args.num_samples,
        args.max_epochs,
        output_dir=args.output,
        config_files=args.config_files,
        overrides=parse_overrides(rest),
        address=args.address,
        cpus_per_trial=args.cpus_per_trial,
        gpus_per_trial=args.gpus_per_trial,
        num_cpus=args.num_cpus,
        space_dir=args.spaces or SEARCH_SPACES_DIR,
        command=command,
    )
    print("\n" + table)
    if not finished:
        print("tune: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    return 0
