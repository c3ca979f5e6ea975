"""Lifelong histories (`positions: capped` or `off`): the causal state goes on past N = MAX_ITEM_LIST_LENGTH
with the O(1) step, and equals the model's own encoding of the whole history; the default
(`absolute`) is unchanged. Also StreamingRecommender.replay, which services use to rebuild states."""

import pytest
import torch
from recbole.data import create_dataset
from recbole.utils import get_model

from recbole_hydra import StreamingRecommender
from recbole_hydra.runtime.config import build_config

from helpers import overrides, write_dataset

N = 6


@pytest.fixture(scope="module")
def data_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lifelong")
    write_dataset(folder, users=20, items=15, per_user=8)
    return folder


def tiny_model(folder, positions, attention="hydra", seed=0):
    settings = overrides(folder, hidden_size=8, inner_size=16, n_layers=2, MAX_ITEM_LIST_LENGTH=N, n_heads=2)
    config = build_config("HydraRec", "syn", overrides=dict(settings, positions=positions, attention=attention))
    dataset = create_dataset(config)
    torch.manual_seed(seed)
    return get_model("HydraRec")(config, dataset).double().eval(), dataset


def tokens(dataset, ids):
    return [str(dataset.id2token(dataset.iid_field, i)) for i in ids]


@pytest.mark.parametrize("positions", ["capped", "off"])
@pytest.mark.parametrize("attention", ["hydra", "linrec"])
def test_step_past_n_equals_encoding_the_whole_history(data_folder, positions, attention):
    model, _ = tiny_model(data_folder, positions, attention)
    assert model.lifelong and model.recurrent
    seq = torch.randint(1, model.n_items, (3, 4 * N))  # (B, 4N): far past the window
    with torch.no_grad():
        full = model.encode(seq)  # (B, 4N, D): capped positions past N - 1
        states = model.initial_state(3)
        for t in range(seq.size(1)):
            h, states = model.step(seq[:, t], torch.full((3,), t), states)
            torch.testing.assert_close(h, full[:, t])


def test_capped_equals_absolute_within_n(data_folder):
    """Same table, same training: 'capped' changes nothing until a stream passes N."""
    absolute, _ = tiny_model(data_folder, "absolute")
    capped, _ = tiny_model(data_folder, "capped")
    capped.load_state_dict(absolute.state_dict())
    seq = torch.randint(1, absolute.n_items, (4, N))
    lengths = torch.tensor([N, 3, 1, 5])
    seq = seq * (torch.arange(N) < lengths.unsqueeze(1))
    with torch.no_grad():
        torch.testing.assert_close(capped.forward(seq, lengths), absolute.forward(seq, lengths))
    assert not absolute.lifelong and "position_embedding.weight" in absolute.state_dict()


def test_off_has_no_position_table(data_folder):
    model, _ = tiny_model(data_folder, "off")
    assert not any(name.startswith("position_embedding") for name in model.state_dict())


def test_a_lifelong_stream_never_re_encodes_and_scores_the_whole_history(data_folder, monkeypatch):
    model, dataset = tiny_model(data_folder, "capped")
    stream = StreamingRecommender(model, dataset)
    torch.manual_seed(1)
    histories = {f"user{u}": torch.randint(1, model.n_items, (3 * N,)).tolist() for u in range(4)}
    calls = []
    monkeypatch.setattr(model, "forward", lambda *args: calls.append(args))  # the O(N) re-encode path
    for t in range(3 * N):
        stream.update_many(list(histories), [tokens(dataset, [h[t]])[0] for h in histories.values()])
    monkeypatch.undo()
    assert calls == []
    with torch.no_grad():
        whole = torch.stack([model.encode(torch.tensor([h]))[0, -1] for h in histories.values()])  # (B, D)
    expected = whole @ model.item_embedding.weight[: model.n_items].T
    torch.testing.assert_close(stream.full_scores(list(histories)), expected)
    assert stream.length("user0") == 3 * N and len(stream.history("user0")) == N  # the window slides along


@pytest.mark.parametrize("positions", ["absolute", "capped"])
def test_replay_equals_streaming_event_by_event(data_folder, positions):
    """Past N too: the windowed model replays only its last N items, as update's re-encode sees them."""
    model, dataset = tiny_model(data_folder, positions)
    lengths = {"a": 1, "b": N, "c": N + 1, "d": 3 * N}
    torch.manual_seed(3)
    histories = {user: tokens(dataset, torch.randint(1, model.n_items, (n,)).tolist()) for user, n in lengths.items()}
    streamed, replayed = StreamingRecommender(model, dataset), StreamingRecommender(model, dataset)
    for user, history in histories.items():
        for item in history:
            streamed.update(user, item)
    replayed.update("d", histories["a"][0])  # a state that replay must replace, not extend
    replayed.replay(list(histories), list(histories.values()))
    users = list(histories)
    torch.testing.assert_close(replayed.full_scores(users), streamed.full_scores(users))
    for user in users:
        assert replayed.length(user) == streamed.length(user) == lengths[user]
        assert replayed.history(user) == streamed.history(user)
        # The seen items are left out alike (scores equal to float tolerance, so the same order).
        assert replayed.recommend(user, k=5).items == streamed.recommend(user, k=5).items
    # And streaming on after a replay stays equal.
    replayed.update("c", histories["a"][0])
    streamed.update("c", histories["a"][0])
    torch.testing.assert_close(replayed.full_scores(["c"]), streamed.full_scores(["c"]))


def test_replay_checks_every_item_first(data_folder):
    model, dataset = tiny_model(data_folder, "capped")
    stream = StreamingRecommender(model, dataset)
    stream.update("a", tokens(dataset, [1])[0])
    before = stream.full_scores(["a"])
    with pytest.raises(KeyError, match="unknown item 'nope'"):
        stream.replay(["a", "b"], [tokens(dataset, [2, 3]), ["nope"]])
    torch.testing.assert_close(stream.full_scores(["a"]), before)
    assert stream.length("a") == 1
