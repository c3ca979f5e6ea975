"""`run_hydrarec.py stream`: time one streamed update against one full recompute of the history.

What is measured and how: experiments/benchmarks/stream_bench.py.
"""

import os

import torch

from recbole_hydra.cli.args import add_config_files, command_line, command_parser
from recbole_hydra.config_errors import ConfigError, positive_int
from recbole_hydra.experiments.benchmarks import stream_bench
from recbole_hydra.experiments.reports.stream_report import write_report
from recbole_hydra.runtime.config import parse_overrides


def parser():
    p = command_parser(
        prog="run_hydrarec.py stream",
        description="Benchmark StreamingRecommender: one update against one full recompute, and "
        "recommend_many throughput. Without --checkpoint a small causal HydraRec is trained first; "
        "extra RecBole settings for it go as --key=value.",
    )
    p.add_argument("--checkpoint", metavar="PATH", help="a trained causal HydraRec checkpoint (RecBole .pth)")
    p.add_argument("--dataset", "-d", default="ml-100k", help="dataset to train on when no --checkpoint is given")
    add_config_files(p, "RecBole yaml files for training, later ones win")
    p.add_argument("--lengths", nargs="+", type=int, default=[10, 100, 1000], help="history lengths to time")
    p.add_argument("--users", type=int, default=64, help="users per length: timed samples and the recommend_many batch")
    p.add_argument("--k", type=int, default=10, help="items per recommendation")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: steady timings on shared machines)")
    p.add_argument("--seed", type=int, default=0, help="seed for the random item streams")
    p.add_argument("--output", default="stream_results", metavar="DIR", help="writes stream.md and stream.csv here")
    return p


def _check_options(args):
    options = {"--users": args.users, "--k": args.k, "--threads": args.threads}
    options.update({f"--lengths[{i}]": n for i, n in enumerate(args.lengths)})
    for name in options:
        positive_int(options, name)
    if args.checkpoint and not os.path.isfile(args.checkpoint):
        raise ConfigError(f"--checkpoint: file not found: {args.checkpoint}")


def run(argv):
    from recbole_hydra.online import StreamingRecommender

    args, rest = parser().parse_known_args(argv)
    overrides = parse_overrides(rest)
    _check_options(args)
    if args.checkpoint and overrides:
        raise ConfigError(f"--key=value settings {sorted(overrides)} only apply when training (no --checkpoint)")
    torch.set_num_threads(args.threads)
    model, dataset, source = stream_bench.load_model(
        args.checkpoint, args.dataset, args.config_files, overrides, args.output
    )
    try:
        stream = StreamingRecommender(model, dataset)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"--checkpoint: {error}") from None

    generator = torch.Generator().manual_seed(args.seed)
    rows = [stream_bench.measure(stream, n, args.users, args.k, generator) for n in args.lengths]
    notes = [
        f"model: {source}; n_layers={len(model.layers)}, hidden_size={model.hidden_size}, "
        f"MAX_ITEM_LIST_LENGTH={model.max_seq_length}, items={model.n_items - 1}",
        f"device: {stream.device.type} ({stream_bench.device_name(stream.device)}), torch {torch.__version__}, "
        f"{args.threads} thread(s); medians over {args.users} users; recommend_many batch {args.users}, k={args.k}",
        f"positions: {model.positions}; "
        + (
            f"lifelong: update steps on past MAX_ITEM_LIST_LENGTH={model.max_seq_length} and the recompute encodes "
            "the whole history"
            if model.lifelong
            else f"histories longer than MAX_ITEM_LIST_LENGTH={model.max_seq_length} are recomputed over their last "
            f"{model.max_seq_length} items (RecBole's truncation), by update as well as by the full recompute"
        ),
        "command: " + command_line("stream", argv),
    ]
    table = write_report(rows, notes, args.output)
    print(table)
    print("\n".join(notes))
    print(f"wrote {os.path.join(args.output, 'stream.md')} and stream.csv")
    return 0
