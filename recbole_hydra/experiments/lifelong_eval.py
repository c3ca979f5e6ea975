"""Test accuracy of a causal HydraRec as a stream would serve it: the windowed state (RecBole's last N events)
against the lifelong one (the whole history; `run_hydrarec.py lifelong-eval`).

RecBole's evaluation always truncates a history to its last N = MAX_ITEM_LIST_LENGTH events, so it cannot
tell what a lifelong state (`positions: capped` or `off`) is worth past N. This replays each test
user's history through StreamingRecommender and ranks the test event, under RecBole's protocol for
sequential models (leave-one-out in time order: a user's last event is the test target when they have
at least 3; full ranking over every item, seen ones included unless `exclude_seen`, which then means
what runtime/seen_items.py means: every event before the target, in both modes, is out of the ranking):
  windowed   the last N events of the history (for `positions: absolute`, RecBole's own test score);
  lifelong   every event of the history, the model's state going on past N; a model trained with
             `absolute` positions is read with `capped` ones (the same weights: until an event's
             position reaches N - 1 nothing differs, and training never gets there).

Shapes: U users, I item ids (0 = padding).
"""

import math

import numpy as np
import torch

from recbole_hydra.online.streaming import StreamingRecommender

CHUNK = 1024  # users scored at once


def test_histories(dataset):
    """{user id: (history item ids, test item id)} in time order, for users with at least 3 events."""
    uids = np.asarray(dataset.inter_feat[dataset.uid_field])
    iids = np.asarray(dataset.inter_feat[dataset.iid_field])
    times = np.asarray(dataset.inter_feat[dataset.time_field])
    order = np.lexsort((np.arange(len(uids)), times, uids))  # by user, then time, ties as stored
    uids, iids = uids[order], iids[order]
    starts = np.flatnonzero(np.r_[True, uids[1:] != uids[:-1]])
    ends = np.r_[starts[1:], len(uids)]
    return {
        int(uids[start]): (iids[start : end - 1].tolist(), int(iids[end - 1]))
        for start, end in zip(starts, ends)
        if end - start >= 3
    }


def metrics(scores, targets, k, seen=None):
    """NDCG@k and Hit@k of one target per row: scores (U, I), targets (U,); `seen`, a list of U item id
    lists, drops each row's items from the ranking (a seen target can then never be hit)."""
    scores = scores.clone()
    scores[:, 0] = float("-inf")  # padding
    if seen is not None:
        rows = torch.repeat_interleave(torch.arange(len(seen)), torch.tensor([len(ids) for ids in seen]))
        items = torch.tensor([item for ids in seen for item in ids], dtype=torch.long)
        scores[rows.to(scores.device), items.to(scores.device)] = float("-inf")
    target_scores = scores.gather(1, targets.unsqueeze(1))  # (U, 1)
    ranks = (scores > target_scores).sum(dim=1)  # (U,) items scored above the target
    hit = ranks < k
    ndcg = torch.where(hit, 1.0 / torch.log2(ranks.double() + 2), torch.zeros((), dtype=torch.double))
    return float(ndcg.sum()), float(hit.sum())


@torch.no_grad()
def evaluate(model, dataset, k=10, exclude_seen=False):
    """{'windowed': {...}, 'lifelong': {...}}, each with ndcg@k, hit@k and the users scored."""
    histories = test_histories(dataset)
    users = sorted(histories)
    id2token = dataset.field2id_token[dataset.iid_field]
    original = model.positions
    results = {}
    try:
        for mode in ("windowed", "lifelong"):
            if mode == "lifelong" and original == "absolute":
                model.positions = "capped"  # the same table; positions past N - 1 stay at N - 1
            elif mode == "windowed" and original != "absolute":
                model.positions = original
            totals, n = [0.0, 0.0], model.max_seq_length
            for begin in range(0, len(users), CHUNK):
                chunk = users[begin : begin + CHUNK]
                stream = StreamingRecommender(model, dataset)
                kept = [histories[u][0] if mode == "lifelong" else histories[u][0][-n:] for u in chunk]
                names = [str(u) for u in chunk]
                stream.replay(names, [[str(id2token[i]) for i in history] for history in kept])
                targets = torch.tensor([histories[u][1] for u in chunk], device=stream.device)
                seen = [histories[u][0] for u in chunk] if exclude_seen else None  # the whole history
                for total, value in enumerate(metrics(stream.full_scores(names), targets, k, seen)):
                    totals[total] += value
            results[mode] = {f"ndcg@{k}": totals[0] / len(users), f"hit@{k}": totals[1] / len(users)}
            results[mode]["users"] = len(users)
    finally:
        model.positions = original
    longer = sum(len(histories[u][0]) > model.max_seq_length for u in users)
    results["users_past_n"] = longer
    results["max_history"] = max((len(histories[u][0]) for u in users), default=0)
    return results


def ratio(results, k=10):
    windowed = results["windowed"][f"ndcg@{k}"]
    return results["lifelong"][f"ndcg@{k}"] / windowed if windowed else math.nan
