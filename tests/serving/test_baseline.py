"""The recompute baseline scores what StreamingRecommender scores for a windowed model (RecBole's last N
events), by re-encoding the window per request instead of stepping a state, and serves softmax too."""

import pytest
import torch

from recbole_hydra.serving import models
from recbole_hydra.serving.baseline import WindowRecommender

from service_helpers import N


def test_the_baseline_equals_the_streamed_state_before_and_past_n(checkpoints):
    served = models.load(checkpoints["causal"])
    baseline, streamed = WindowRecommender(served.model, served.dataset), served.new_states()
    items = [f"i{n}" for n in range(30)]
    histories = {"short": items[:3], "full": items[:N], "long": items[: 3 * N]}
    for user, history in histories.items():
        for item in history:
            baseline.update_many([user], [item])
            streamed.update(user, item)
    users = list(histories)
    for got, want in zip(baseline.recommend_many(users, 5), streamed.recommend_many(users, 5)):
        assert got.items == want.items and got.scores == pytest.approx(want.scores, rel=1e-5)
    replayed = WindowRecommender(served.model, served.dataset)
    replayed.replay(users, list(histories.values()))
    assert [r.items for r in replayed.recommend_many(users, 5)] == [r.items for r in baseline.recommend_many(users, 5)]
    assert [baseline.length(u) for u in users] == [3, N, 3 * N] and "nobody" not in baseline
    with pytest.raises(KeyError, match="unknown item 'nope'"):
        baseline.update_many(["short", "short"], ["i1", "nope"])
    assert baseline.length("short") == 3  # checked before any change


def test_the_baseline_serves_softmax_attention(checkpoints):
    served = models.load(checkpoints["softmax"], recompute=True)
    states = served.new_states()
    assert isinstance(states, WindowRecommender)
    states.update_many(["u"] * 4, ["i1", "i2", "i3", "i4"])
    (reply,) = states.recommend_many(["u"], 5)
    with torch.no_grad():  # the window through the model's own forward
        ids = torch.tensor([[served.item_ids[f"i{n}"] for n in range(1, 5)]])
        scores = served.model.forward(ids, torch.tensor([4])) @ served.model.item_embedding.weight.T
    scores[0, 0] = float("-inf")
    scores[0, ids[0]] = float("-inf")
    assert reply.scores == pytest.approx(scores[0].topk(5).values.tolist(), rel=1e-5)
    with pytest.raises(models.ModelRefused, match="--recompute serves it"):
        models.load(checkpoints["softmax"])
