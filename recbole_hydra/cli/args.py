"""What the subcommands' argument parsing shares: option types and checks, config files, the
grid's --dataset/--models, the command line a result records, and stopping on SIGTERM or a
lone SIGINT as on Ctrl-C."""

import argparse
import contextlib
import shlex
import signal
import threading

from recbole_hydra.config_errors import ConfigError, positive_int, resource_amount

INTERRUPTED = 130  # the shell's status for a command stopped by SIGINT

DEFAULT_MODELS = ["HydraRec", "SASRec", "BERT4Rec"]


def command_line(subcommand, argv, program=("python", "run_hydrarec.py")):
    """The shell command that runs `subcommand` with `argv`, each argument quoted where the shell needs
    it: what result files record as the command that made them, and what a resumed run is told to run."""
    return shlex.join([*program, subcommand, *argv])


def command_parser(**kwargs):
    """The ArgumentParser of one subcommand. No abbreviations: a RecBole --key=value must reach
    RecBole, never be read as the start of one of our options (--seed=2021 as --seeds=2021)."""
    return argparse.ArgumentParser(allow_abbrev=False, **kwargs)


def positive_int_arg(text):
    """argparse type: a positive integer (argparse names the option and exits 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def check_positive_ints(args, *options):
    """Each named option ('--jobs') that was given must be a positive integer (a ConfigError naming it)."""
    values = {option: getattr(args, option.lstrip("-").replace("-", "_")) for option in options}
    for option, value in values.items():
        if value is not None:
            positive_int(values, option)


def labelled_paths(specs, option, expected, present, absent_text):
    """'LABEL=PATH[,PATH...]' option values → {label: [paths]}, a label given twice gathering all its
    paths. A ConfigError names the option for a malformed value or a path that `present` rejects."""
    labelled = {}
    for spec in specs:
        label, _, joined = spec.partition("=")
        paths = [path for path in joined.split(",") if path]
        if not label or not paths:
            raise ConfigError(f"option {option}: expected {expected}, got {spec!r}")
        absent = [path for path in paths if not present(path)]
        if absent:
            raise ConfigError(f"option {option}: {absent_text}: {', '.join(absent)}")
        labelled.setdefault(label, []).extend(paths)
    return labelled


def add_address(parser, default_text):
    parser.add_argument(
        "--address",
        default=None,
        help="Ray cluster to use: 'auto' (the cluster this machine belongs to), 'HOST:PORT' of its head, "
        f"or 'ray://HOST:10001'; see docs/cluster.md (default: {default_text}; RAY_ADDRESS is not read, "
        "so a cluster is joined only when asked for here)",
    )


def check_resources_args(args, cpus_option, gpus_option, needs_address=False):
    """CPUs and GPUs per run or trial: fractions below 1, whole numbers above; with `needs_address`,
    only with --address (they are requests to Ray)."""
    values = {option: getattr(args, option.lstrip("-").replace("-", "_")) for option in (cpus_option, gpus_option)}
    for option, value in values.items():
        if value is None:
            continue
        if needs_address and args.address is None:
            raise ConfigError(f"option {option} asks a Ray cluster for resources: it needs --address (e.g. auto)")
        resource_amount(values, option, positive=option == cpus_option)


class ConfigFiles(argparse.Action):
    """--config_files a.yaml b.yaml, or RecBole's one space-separated string "a.yaml b.yaml": a list."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, [path for entry in values for path in entry.split()])


def add_config_files(parser, help_text="RecBole yaml files, later ones win"):
    parser.add_argument("--config_files", nargs="*", default=[], action=ConfigFiles, help=help_text)


def add_dataset_and_models(parser, hydrarec_verb):
    """--dataset and --models; `hydrarec_verb` says what happens to HydraRec ('runs', 'is searched')."""
    parser.add_argument("--dataset", "-d", default="ml-100k", help="dataset name (ml-100k ships with RecBole)")
    parser.add_argument(
        "--models",
        "-m",
        nargs="+",
        default=list(DEFAULT_MODELS),
        help=f"RecBole sequential models; HydraRec {hydrarec_verb} in both modes "
        "(HydraRec:causal or HydraRec:bidirectional for one)",
    )


@contextlib.contextmanager
def stop_signals_as_interrupt(before=None):
    """Within the block, `kill PID` and `kill -INT PID` stop the command the way Ctrl-C does (main
    thread only).

    `before()` runs first, e.g. to pass the stop on to worker processes: a signal sent to one
    process (`kill`, `kill -INT`) does not reach its workers the way Ctrl-C (or `timeout`) reaches
    the whole process group, and a worker left behind trains on with nobody to collect its
    result. A SIGINT that was ignored when the command started (a shell's background job) stays
    ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        if before is not None:
            before()
        raise KeyboardInterrupt

    stop_signals = [signal.SIGTERM]
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        stop_signals.append(signal.SIGINT)
    previous = {signum: signal.signal(signum, interrupt) for signum in stop_signals}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
