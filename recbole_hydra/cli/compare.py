"""`run_hydrarec.py compare`: several models and seeds, one protocol, one table."""

from recbole_hydra.cli.args import (
    INTERRUPTED,
    add_address,
    add_config_files,
    add_dataset_and_models,
    check_positive_ints,
    check_resources_args,
    command_line,
    command_parser,
    stop_signals_as_interrupt,
)
from recbole_hydra.runtime.config import parse_overrides


def parser():
    p = command_parser(
        prog="run_hydrarec.py compare",
        description="Train and test several sequential models over several seeds under one protocol "
        "(leave-one-out, full ranking, selection on validation NDCG@10) and write DIR/comparison.csv, "
        "DIR/comparison.md and DIR/comparison.png. Finished runs are kept: rerun the same command to "
        "resume. Settings shared by every model go as --key=value, e.g. --epochs=30 --stopping_step=3.",
    )
    add_dataset_and_models(p, "runs")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds, counting up from --seed (default 2020)")
    p.add_argument("--output", "-o", default="comparison", help="output folder (default ./comparison)")
    add_config_files(p, "RecBole yaml files shared by every model")
    p.add_argument("--threads", type=int, default=None, help="torch threads per run (default: torch's choice)")
    p.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=None,
        help="runs trained side by side, each in its own process (default 1; with --address, every run is "
        "queued with Ray at once); with --threads T, use jobs × T ≤ your cores",
    )
    add_address(p, "this machine, no Ray")
    p.add_argument(
        "--cpus-per-run",
        type=float,
        default=None,
        help="with --address: CPUs Ray reserves for each run (default 1; also its torch threads unless --threads)",
    )
    p.add_argument(
        "--gpus-per-run",
        type=float,
        default=None,
        help="with --address: GPUs Ray gives each run, fractions allowed, e.g. 0.5 (default 0: the CPU)",
    )
    p.add_argument(
        "--reference",
        nargs="+",
        default=None,
        metavar="MODEL",
        help="rows that comparison.md divides time, inference and memory by, e.g. "
        "--reference SASRec BERT4Rec (default SASRec, when compared); HydraRec needs its mode, "
        "e.g. HydraRec:causal",
    )
    p.add_argument(
        "--tuned",
        default=None,
        metavar="TUNE_DIR",
        help="a `tune` output folder (or its tuning_summary.csv): each model runs its best config "
        "there, chosen on validation; every compared model needs a finished search",
    )
    p.add_argument("--redo", action="store_true", help="rerun runs already in DIR/comparison.csv")
    return p


def _ray_runner(args, cpus):
    """The Ray cluster's runner (connected, its resources checked), or None to run on this machine."""
    if args.address is None:
        return None
    from recbole_hydra.experiments.runners.cluster import RayRunner

    return RayRunner(args.address, cpus=cpus, gpus=args.gpus_per_run or 0.0)


def run(argv):
    from recbole_hydra.experiments.compare import compare
    from recbole_hydra.experiments.runners.local import run_in_subprocess, stop_runs

    args, rest = parser().parse_known_args(argv)
    check_positive_ints(args, "--seeds", "--threads", "--jobs")
    check_resources_args(args, "--cpus-per-run", "--gpus-per-run", needs_address=True)
    overrides = parse_overrides(rest)
    command = command_line("compare", argv)
    cpus_per_run = 1.0 if args.cpus_per_run is None else args.cpus_per_run  # None: not given (needs --address)
    runner = _ray_runner(args, cpus_per_run)
    threads = args.threads
    if runner is not None and threads is None:  # as many torch threads as the CPUs Ray reserved
        threads = max(1, int(cpus_per_run))
    try:
        with stop_signals_as_interrupt(before=runner.stop if runner else stop_runs):
            table = compare(
                args.models,
                args.dataset,
                seeds=args.seeds,
                output_dir=args.output,
                config_files=args.config_files,
                overrides=overrides,
                threads=threads,
                jobs=args.jobs if runner else args.jobs or 1,
                redo=args.redo,
                command=command,
                references=args.reference,
                tuned=args.tuned,
                runner=runner or run_in_subprocess,
            )
    except KeyboardInterrupt:
        return INTERRUPTED
    finally:
        if runner is not None:
            runner.close()
    print(table)
    return 0
