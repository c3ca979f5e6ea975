"""`run_hydrarec.py lifelong-eval`: a trained causal HydraRec's test NDCG@k and Hit@k with windowed (last N) and
lifelong (whole-history) streamed states. What and how: experiments/lifelong_eval.py."""

import os

import torch

from recbole_hydra.cli.args import command_parser, positive_int_arg
from recbole_hydra.config_errors import ConfigError
from recbole_hydra.experiments import lifelong_eval
from recbole_hydra.experiments.reports.tables import format_table
from recbole_hydra.files import write_atomic
from recbole_hydra.runtime import inference, seen_items


def parser():
    p = command_parser(
        prog="run_hydrarec.py lifelong-eval",
        description="Rank each user's test event from a streamed state over the last N events (RecBole's "
        "protocol) and over the whole history (lifelong: positions capped at N - 1), and compare.",
    )
    p.add_argument("--checkpoint", required=True, metavar="PATH", help="a trained causal HydraRec (RecBole .pth)")
    p.add_argument("--data-path", default=None, metavar="DIR", help="folder holding the dataset's folder")
    p.add_argument("--k", type=positive_int_arg, default=10, help="cut-off of NDCG and Hit (default: 10)")
    p.add_argument("--threads", type=positive_int_arg, default=1, help="torch CPU threads")
    p.add_argument(
        "--exclude-seen",
        choices=("yes", "no"),
        default=None,
        help="rank only items the user has not seen before the test event (default: the checkpoint's exclude_seen)",
    )
    p.add_argument("--output", default=None, metavar="DIR", help="also write DIR/lifelong_eval.md")
    return p


def run(argv):
    args = parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        model, dataset = inference.build_model(inference.read_checkpoint(args.checkpoint), args.data_path)
    except (FileNotFoundError, ValueError) as error:
        raise ConfigError(f"--checkpoint: {error}") from None
    if getattr(model, "bidirectional", True) or not getattr(model, "recurrent", False):
        raise ConfigError(f"--checkpoint: {args.checkpoint} is not a causal HydraRec with a recurrent token mixer")
    if args.exclude_seen is None:
        exclude_seen = seen_items.excluding_seen(dataset.config)  # the ranking the model was trained for
    else:
        exclude_seen = args.exclude_seen == "yes"
    results = lifelong_eval.evaluate(model, dataset, args.k, exclude_seen)
    rows = [dict(results[mode], mode=mode) for mode in ("windowed", "lifelong")]
    table = format_table(rows, ["mode", "users", f"ndcg@{args.k}", f"hit@{args.k}"], float_digits=4)
    notes = [
        f"checkpoint: {args.checkpoint}; positions: {model.positions}; MAX_ITEM_LIST_LENGTH N = {model.max_seq_length}",
        "ranking: " + ("unseen items (every event before the test event excluded)" if exclude_seen else "all items"),
        f"{results['users_past_n']} of {results['windowed']['users']} test users have more than N events before "
        f"their test event (longest: {results['max_history']}); below N both modes see the same events",
        f"lifelong / windowed NDCG@{args.k}: {lifelong_eval.ratio(results, args.k):.3f}",
    ]
    text = table + "\n\n" + "".join(f"- {note}\n" for note in notes)
    print(text, end="")
    if args.output:
        os.makedirs(args.output, exist_ok=True)
        write_atomic(os.path.join(args.output, "lifelong_eval.md"), text)
    return 0
