"""What the subcommands share: the grid's --dataset/--models, and stopping on SIGTERM like on Ctrl-C."""

import contextlib
import signal
import threading

INTERRUPTED = 130  # the shell's status for a command stopped by SIGINT

DEFAULT_MODELS = ["HydraRec", "SASRec", "BERT4Rec"]


def add_dataset_and_models(parser, hydrarec_verb):
    """--dataset and --models; `hydrarec_verb` says what happens to HydraRec ('runs', 'is searched')."""
    parser.add_argument("--dataset", "-d", default="ml-100k", help="dataset name (ml-100k ships with RecBole)")
    parser.add_argument("--models", "-m", nargs="+", default=list(DEFAULT_MODELS),
                        help=f"RecBole sequential models; HydraRec {hydrarec_verb} in both modes "
                        "(HydraRec:causal or HydraRec:bidirectional for one)")


@contextlib.contextmanager
def sigterm_as_interrupt(before=None):
    """Within the block, `kill PID` stops the command the way Ctrl-C does (main thread only).

    `before()` runs first, e.g. to pass the signal on to worker processes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        if before is not None:
            before()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
