"""Streaming benchmark (`run_hydrarec.py stream`): time one streamed update against one full recompute of the history.

For each history length n it builds users with n-1 streamed items, then times
  update        StreamingRecommender.update(user, item) of the n-th item: the recurrent step
                (O(L·D²)), or, when n > N = MAX_ITEM_LIST_LENGTH, the window re-encode that
                RecBole's truncation requires (a lifelong model steps on in O(1));
  recompute     model.forward on the user's whole history of n items, unpadded: the last
                min(n, N) items (the `recompute_window` column), as full_sort_predict encodes it;
                for a lifelong model (`positions: capped` or `off`) all n, which its state covers;
  recommend     recommend_many over all those users at once (users per second);
and checks that both give the same scores (`max_abs_diff`). Medians over --users samples.
reports/stream_report.py writes the rows.
"""

import os
import platform
import statistics
import sys
import time

import torch

from recbole_hydra.runtime.config import build_config

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


def load_model(checkpoint=None, dataset="ml-100k", config_files=(), overrides=None, output="stream_results"):
    """(model, dataset, description) from `checkpoint`, or from a small causal HydraRec trained here first."""
    from recbole_hydra.runtime.datasets import check_dataset
    from recbole_hydra.runtime.saved_models import load_saved_model
    from recbole_hydra.runtime.training import train_and_test

    if not checkpoint:
        settings = {**TRAIN_DEFAULTS, "checkpoint_dir": os.path.join(output, "saved"), **(overrides or {})}
        config = build_config("HydraRec", dataset, config_files, settings)
        check_dataset(config)
        result = train_and_test(config)
        print(f"trained {result.model} on {result.dataset}: test {result.test_result}", file=sys.stderr)
        checkpoint = result.checkpoint
    config, model, dataset, _, _, _ = load_saved_model(checkpoint)
    return model, dataset, f"{checkpoint} ({config['dataset']})"


def median_seconds(calls, sync):
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
    update_s = median_seconds([lambda u=u, item=item: stream.update(u, item) for u, item in zip(users, last)], sync)

    if model.lifelong:  # its state covers the whole history: recompute all of it (positions capped at N - 1)
        windows = [random_items[:, j].unsqueeze(0).to(stream.device) for j in range(n_users)]  # (1, n)
    else:
        windows = [torch.tensor([[token2id[t] for t in stream.history(u)]], device=stream.device) for u in users]

    def recompute(window):
        with torch.no_grad():
            return model.forward(window, torch.tensor([window.size(1)], device=stream.device))  # (1, D)

    recompute_s = median_seconds([lambda w=w: recompute(w) for w in windows], sync)
    recommend_s = median_seconds([lambda: stream.recommend_many(users, k)] * 5, sync)

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


def device_name(device):
    return torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or "cpu")
