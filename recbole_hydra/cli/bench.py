"""`run_hydrarec.py bench`: step time and peak memory against history length, HydraRec vs RecBole."""

import argparse
import sys

from recbole_hydra.cli.args import command_line, command_parser
from recbole_hydra.config_errors import ConfigError, positive_float, positive_int, probability
from recbole_hydra.experiments.benchmarks.bench_cells import DEFAULT_LENGTHS, DEFAULT_MODELS, BenchSettings
from recbole_hydra.experiments.benchmarks.bench_runner import machine_summary, run_bench
from recbole_hydra.model.mixers import MIXERS
from recbole_hydra.runtime.model_names import sequential_model_class
from recbole_hydra.runtime.patches import hide_recbole_warnings


def parser():
    p = command_parser(
        prog="run_hydrarec.py bench",
        description="Time one training step and one full-ranking inference step per model and history "
        "length N at a fixed number of tokens per batch, with peak memory; each (model, N) in a fresh "
        "process. Writes DIR/bench.csv, bench.png, bench.md (and layer_overhead.csv).",
    )
    p.add_argument(
        "--lengths",
        nargs="+",
        type=int,
        default=list(DEFAULT_LENGTHS),
        metavar="N",
        help="history lengths (MAX_ITEM_LIST_LENGTH) to measure",
    )
    p.add_argument(
        "--models",
        nargs="+",
        default=list(DEFAULT_MODELS),
        metavar="MODEL",
        help="HydraRec (two rows: causal and bidirectional) and RecBole sequential models",
    )
    p.add_argument(
        "--mixers",
        nargs="+",
        default=["hydra"],
        choices=list(MIXERS),
        metavar="MIXER",
        help=f"HydraRec's token mixers to time, each in both modes ({', '.join(MIXERS)}; default hydra): "
        "the same skeleton, only the attention differs",
    )
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--output", default="bench", metavar="DIR", help="folder for the csv, png and md files")
    p.add_argument("--hidden-size", type=int, default=64, help="hidden size D of every model (inner size 4·D)")
    p.add_argument("--layers", type=int, default=2, help="encoder layers of every model")
    p.add_argument(
        "--token-budget", type=int, default=16384, metavar="T", help="tokens per batch: batch_size = max(1, T // N)"
    )
    p.add_argument("--repeats", type=int, default=5, help="timed steps per phase (the median is reported)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps before the timed ones")
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run the whole plan this many times and report each cell's median round "
        "(on a shared machine, 3 evens out load that changes over minutes)",
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads per cell")
    p.add_argument(
        "--cell-timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="a cell that takes longer is recorded as 'timeout'",
    )
    p.add_argument(
        "--phase-budget",
        type=float,
        default=20.0,
        metavar="SECONDS",
        help="stop timing a phase after this long once 3 steps are timed",
    )
    p.add_argument(
        "--memory-limit-mb",
        type=int,
        default=8192,
        help="CPU: memory a cell may add after building its model; beyond it the cell is "
        "recorded as 'oom' (0: no limit)",
    )
    p.add_argument("--dataset", default="ml-100k", help="RecBole dataset that sets the item count")
    p.add_argument("--dropout", type=float, default=0.5, help="hidden and attention dropout of every model")
    p.add_argument(
        "--parts",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time causal HydraRec as a plain drop-in for SASRec's attention, with "
        "RecBole's GELU, without its mixing step, and without layers (the breakdown)",
    )
    p.add_argument(
        "--layer-overhead",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time one HydraLayer with and without its mixing step",
    )
    p.add_argument("--compile", action="store_true", help="also time causal HydraRec with compile: True")
    p.add_argument("--amp", action="store_true", help="mixed precision for every model (bf16 on CPU, fp16 on CUDA)")
    p.add_argument(
        "--isolate",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run each cell in a fresh process (--no-isolate: all in this one; quicker, "
        "but memory figures then share one process)",
    )
    return p


def _check(args):
    """Bad options fail before any cell runs, naming the option."""
    # The validators name a key; give them the option's own spelling.
    options = {"--" + key.replace("_", "-"): value for key, value in vars(args).items()}
    for key in ("--hidden-size", "--layers", "--token-budget", "--repeats", "--threads", "--rounds"):
        positive_int(options, key)
    positive_float(options, "--cell-timeout")
    positive_float(options, "--phase-budget")
    probability(options, "--dropout")
    for n in args.lengths:
        positive_int({"--lengths": n}, "--lengths")
    if args.warmup < 0 or args.memory_limit_mb < 0:
        raise ConfigError("--warmup and --memory-limit-mb must be 0 or more")
    for model in args.models:
        sequential_model_class(model, "--models")
    if args.mixers != ["hydra"] and "HydraRec" not in args.models:
        raise ConfigError(f"--mixers {' '.join(args.mixers)}: the mixers are HydraRec's; add HydraRec to --models")
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("--device cuda: torch sees no CUDA device on this machine")


def settings_from_args(args):
    return BenchSettings(
        lengths=tuple(args.lengths),
        models=tuple(dict.fromkeys(args.models)),
        device=args.device,
        hidden_size=args.hidden_size,
        layers=args.layers,
        token_budget=args.token_budget,
        repeats=args.repeats,
        warmup=args.warmup,
        threads=args.threads,
        cell_timeout_s=args.cell_timeout,
        phase_budget_s=args.phase_budget,
        memory_limit_mb=args.memory_limit_mb,
        dataset=args.dataset,
        dropout=args.dropout,
        parts=args.parts,
        layer_overhead=args.layer_overhead,
        compile=args.compile,
        amp=args.amp,
        isolate=args.isolate,
        rounds=args.rounds,
        mixers=tuple(dict.fromkeys(args.mixers)),
    )


def run(argv):
    hide_recbole_warnings()
    args = parser().parse_args(argv)
    _check(args)
    from recbole_hydra.experiments.reports.bench_report import clock_note, write_outputs

    settings = settings_from_args(args)
    machine = machine_summary(settings)
    print(f"bench on {machine}", flush=True)
    rows, layer_rows = run_bench(settings, progress=lambda line: print(line, flush=True))
    command = command_line("bench", argv)
    title = (
        f"{settings.token_budget} tokens per step (batch = {settings.token_budget} // N), D={settings.hidden_size}, "
        f"{settings.layers} layers, {settings.device}: a flat line is a cost linear in N"
    )
    text = write_outputs(rows, layer_rows, args.output, command, machine, clock_note(settings), title)
    print("\n" + text)
    print(f"results in {args.output}/: bench.csv, bench.md, bench.png, layer_overhead.csv", file=sys.stderr)
    return 0
