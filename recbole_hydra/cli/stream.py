"""`run_hydrarec.py stream`: time one streamed update against one full recompute of the history.

For each history length n it builds users with n-1 streamed items, then times
  update        StreamingRecommender.update(user, item) of the n-th item: the recurrent step
                (O(L·D²)), or, when n > N = MAX_ITEM_LIST_LENGTH, the window re-encode that
                RecBole's truncation requires;
  recompute     model.forward on the user's whole history of n items, unpadded: the last
                min(n, N) items (the `recompute_window` column), as full_sort_predict encodes it;
  recommend     recommend_many over all those users at once (users per second);
and checks that both give the same scores (`max_abs_diff`). Medians over --users samples.
"""

import argparse
import csv
import io
import os
import platform
import statistics
import sys
import time

import torch

from recbole_hydra.checks import ConfigError, positive_int
from recbole_hydra.config import build_config, parse_overrides
from recbole_hydra.results import format_table

COLUMNS = [
    "history", "update_ms", "recompute_ms", "recompute_window", "speedup", "recommend_users_per_s", "max_abs_diff",
]
# The model trained when no --checkpoint is given: small, one epoch, so the benchmark runs anywhere.
# Its N is 50 (RecBole's default): histories past 50 are recomputed over the last 50 items. For a
# comparison over whole 1,000-item histories give --MAX_ITEM_LIST_LENGTH=1000 (slow to train on CPU).
TRAIN_DEFAULTS = {
    "epochs": 1,
    "hidden_size": 32,
    "inner_size": 64,
    "n_layers": 2,
    "MAX_ITEM_LIST_LENGTH": 50,
    "show_progress": False,
}


def parser():
    p = argparse.ArgumentParser(
        prog="run_hydrarec.py stream",
        description="Benchmark StreamingRecommender: one update against one full recompute, and "
        "recommend_many throughput. Without --checkpoint a small causal HydraRec is trained first; "
        "extra RecBole settings for it go as --key=value.",
    )
    p.add_argument("--checkpoint", metavar="PATH", help="a trained causal HydraRec checkpoint (RecBole .pth)")
    p.add_argument("--dataset", "-d", default="ml-100k", help="dataset to train on when no --checkpoint is given")
    p.add_argument("--config_files", nargs="*", default=[], help="RecBole yaml files for training, later ones win")
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


def _load_model(args, overrides):
    """(model, dataset, description) from --checkpoint, or from a model trained here first."""
    from recbole.quick_start import load_data_and_model

    if args.checkpoint:
        if overrides:
            raise ConfigError(f"--key=value settings {sorted(overrides)} only apply when training (no --checkpoint)")
        checkpoint = args.checkpoint
    else:
        from recbole_hydra.pipeline import train_and_test

        config_files = [path for entry in args.config_files for path in entry.split()]
        settings = {**TRAIN_DEFAULTS, "checkpoint_dir": os.path.join(args.output, "saved"), **overrides}
        config = build_config("HydraRec", args.dataset, config_files, settings)
        result = train_and_test(config)
        print(f"trained {result.model} on {result.dataset}: test {result.test_result}", file=sys.stderr)
        checkpoint = result.checkpoint
    config, model, dataset, _, _, _ = load_data_and_model(checkpoint)
    return model, dataset, f"{checkpoint} ({config['dataset']})"


def _median_seconds(calls, sync):
    times = []
    for call in calls:
        start = time.perf_counter()
        call()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(stream, length, n_users, k, generator):
    """One table row for histories of `length` items (see the module docstring)."""
    model, dataset = stream.model, stream.dataset
    sync = torch.cuda.synchronize if stream.device.type == "cuda" else (lambda: None)
    id2token = dataset.field2id_token[dataset.iid_field]
    token2id = dataset.field2token_id[dataset.iid_field]
    random_items = torch.randint(1, model.n_items, (length, n_users), generator=generator)  # never padding
    users = [f"bench-{length}-{i}" for i in range(n_users)]

    for p in range(length - 1):  # the first n-1 items, batched over users (untimed)
        stream.update_many(users, [str(id2token[i]) for i in random_items[p].tolist()])

    last = [str(id2token[i]) for i in random_items[length - 1].tolist()]
    update_s = _median_seconds([lambda u=u, item=item: stream.update(u, item) for u, item in zip(users, last)], sync)

    windows = [torch.tensor([[token2id[t] for t in stream.history(u)]], device=stream.device) for u in users]  # (1, w)

    def recompute(window):
        with torch.no_grad():
            return model.forward(window, torch.tensor([window.size(1)], device=stream.device))  # (1, D)

    recompute_s = _median_seconds([lambda w=w: recompute(w) for w in windows], sync)
    recommend_s = _median_seconds([lambda: stream.recommend_many(users, k)] * 5, sync)

    with torch.no_grad():
        recomputed = torch.cat([recompute(w) for w in windows]) @ model.item_embedding.weight[: model.n_items].T
    diff = (stream.full_scores(users) - recomputed).abs().max().item()
    return {
        "history": length,
        "update_ms": 1e3 * update_s,
        "recompute_ms": 1e3 * recompute_s,
        "recompute_window": windows[0].size(1),
        "speedup": recompute_s / update_s,
        "recommend_users_per_s": round(n_users / recommend_s),
        "max_abs_diff": f"{diff:.1e}",
    }


def _write_atomically(path, text):
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    os.replace(temporary, path)


def _csv_text(rows, columns):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def run(argv):
    from recbole_hydra.streaming import StreamingRecommender

    args, rest = parser().parse_known_args(argv)
    overrides = parse_overrides(rest)
    _check_options(args)
    torch.set_num_threads(args.threads)
    model, dataset, source = _load_model(args, overrides)
    try:
        stream = StreamingRecommender(model, dataset)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"--checkpoint: {error}") from None

    generator = torch.Generator().manual_seed(args.seed)
    rows = [measure(stream, n, args.users, args.k, generator) for n in args.lengths]
    table = format_table(rows, COLUMNS, float_digits=3)
    if stream.device.type == "cuda":
        device = torch.cuda.get_device_name(stream.device)
    else:
        device = platform.processor() or "cpu"
    notes = [
        f"model: {source}; n_layers={len(model.layers)}, hidden_size={model.hidden_size}, "
        f"MAX_ITEM_LIST_LENGTH={model.max_seq_length}, items={model.n_items - 1}",
        f"device: {stream.device.type} ({device}), torch {torch.__version__}, {args.threads} thread(s); "
        f"medians over {args.users} users; recommend_many batch {args.users}, k={args.k}",
        f"histories longer than MAX_ITEM_LIST_LENGTH={model.max_seq_length} are recomputed over their last "
        f"{model.max_seq_length} items (RecBole's truncation), by update as well as by the full recompute",
        "command: " + " ".join(["python run_hydrarec.py stream"] + list(argv)),
    ]
    print(table)
    print("\n".join(notes))
    os.makedirs(args.output, exist_ok=True)
    markdown = table + "\n\n" + "".join(f"- {note}\n" for note in notes)
    _write_atomically(os.path.join(args.output, "stream.md"), markdown)
    _write_atomically(os.path.join(args.output, "stream.csv"), _csv_text(rows, COLUMNS))
    print(f"wrote {os.path.join(args.output, 'stream.md')} and stream.csv")
    return 0
