"""StreamingRecommender and catalogue growth on a HydraRec trained on ml-100k.

The reference is always RecBole's own data: each augmented row of the dataset holds a user's
window (item_id_list, item_length) before a target, exactly as RecBole truncates it, and
`full_sort_predict` on that row is the score the streamed state must reproduce.
"""

import copy
import glob
import os

import numpy as np
import pytest
import torch
from recbole.data import create_dataset
from recbole.quick_start import load_data_and_model, run_recbole
from recbole.utils import get_model

from recbole_hydra import StreamingRecommender
from recbole_hydra.online.catalogue import add_items, carry_over
from recbole_hydra.online.fine_tune import fine_tune, fine_tune_config

MAX_LENGTH = 10  # N: every ml-100k user (20+ ratings) passes it
ROUNDS = 30  # stream up to 30 items per user: lengths 1..N exercise the recurrence, N+1..30 the window
TOLERANCE = dict(rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def checkpoint(workdir):
    from helpers import TINY

    checkpoint_dir = str(workdir / "streaming")
    # Two layers, so that the state is carried from layer to layer, not only within one. No
    # dropout and relu only to train faster: streaming runs in eval mode, where dropout is off.
    cheap = dict(hidden_dropout_prob=0.0, attn_dropout_prob=0.0, hidden_act="relu")
    run_recbole(
        model="HydraRec",
        dataset="ml-100k",
        config_dict=dict(TINY, n_layers=2, MAX_ITEM_LIST_LENGTH=MAX_LENGTH, checkpoint_dir=checkpoint_dir, **cheap),
    )
    return sorted(glob.glob(os.path.join(checkpoint_dir, "HydraRec-*.pth")), key=os.path.getmtime)[-1]


@pytest.fixture(scope="module")
def trained(checkpoint):
    config, model, dataset, _, _, _ = load_data_and_model(checkpoint)
    return config, model.eval(), dataset


@pytest.fixture
def fresh(trained):
    """A model and dataset the test may change (grow, perturb) without touching the others."""
    config, model, dataset = trained
    return config, copy.deepcopy(model), copy.deepcopy(dataset)


def user_histories(dataset, n_users):
    """{user token: (full item-id sequence, augmented row indices)} for the first n_users users.

    Rows are sorted by user then time; row j of a user has the first j items as its history
    (truncated by RecBole to the last N) and item j+1 as its target.
    """
    inter = dataset[np.arange(len(dataset))]  # RecBole's rows, lists included (dataset.inter_feat may lack them)
    uids = inter[dataset.uid_field].numpy()
    targets = inter[dataset.iid_field].numpy()
    first_items = inter[dataset.iid_field + dataset.config["LIST_SUFFIX"]][:, 0].numpy()
    histories = {}
    for uid in np.unique(uids)[:n_users]:
        rows = np.flatnonzero(uids == uid)
        sequence = [int(first_items[rows[0]])] + targets[rows].tolist()
        histories[str(dataset.id2token(dataset.uid_field, uid))] = (sequence, rows)
    return histories


def tokens(dataset, ids):
    return [str(token) for token in dataset.id2token(dataset.iid_field, np.asarray(ids))]


def stream_and_compare(stream, model, dataset, histories, rounds):
    """Stream histories round by round; after each, compare with full_sort_predict on RecBole's rows."""
    compared = 0
    for p in range(1, rounds + 1):
        users = [user for user, (_, rows) in histories.items() if len(rows) >= p]
        stream.update_many(users, tokens(dataset, [histories[user][0][p - 1] for user in users]))
        rows = [histories[user][1][p - 1] for user in users]
        with torch.no_grad():
            expected = model.full_sort_predict(dataset[np.array(rows)])  # (B, I)
        torch.testing.assert_close(stream.full_scores(users), expected, **TOLERANCE)
        window = dataset[np.array([rows[0]])]
        kept = int(window[model.ITEM_SEQ_LEN])
        assert stream.history(users[0]) == tokens(dataset, window[model.ITEM_SEQ][0][:kept])
        assert stream.length(users[0]) == p
        compared += len(users)
    return compared


def test_streamed_scores_equal_full_sort_predict_within_and_past_the_window(trained):
    _, model, dataset = trained
    histories = user_histories(dataset, 150)
    stream = StreamingRecommender(model, dataset)
    compared = stream_and_compare(stream, model, dataset, histories, ROUNDS)
    assert compared > 150 * MAX_LENGTH  # every user up to N, most well past it
    assert len(stream) == 150


def test_recommend_returns_unseen_item_tokens_in_score_order(trained):
    _, model, dataset = trained
    stream = StreamingRecommender(model, dataset)
    seen = ["242", "302", "377", "51"]
    for item in seen:
        stream.update("alice", item)  # a user the dataset never saw starts empty
    top = stream.recommend("alice", k=10)
    assert len(top.items) == 10 and not set(top.items) & set(seen) and "[PAD]" not in top.items
    assert top.scores == sorted(top.scores, reverse=True)
    scores = stream.full_scores(["alice"])[0]
    ids = dataset.token2id(dataset.iid_field, top.items)
    torch.testing.assert_close(torch.tensor(top.scores), scores[ids])
    with_seen = stream.recommend("alice", k=model.n_items + 5, exclude_seen=False)
    assert len(with_seen.items) == model.n_items - 1  # every real item, never the padding id

    stream.update("bob", "1")
    batch = stream.recommend_many(["bob", "alice"], k=10)
    for together, alone in zip(batch, (stream.recommend("bob", k=10), top)):
        assert together.items == alone.items  # batching changes float rounding, not the ranking here
        torch.testing.assert_close(together.scores, alone.scores, **TOLERANCE)


def test_unknown_item_user_and_bad_arguments_are_clear_errors(trained):
    _, model, dataset = trained
    stream = StreamingRecommender(model, dataset)
    stream.update("u1", "242")
    before = stream.full_scores(["u1"])
    with pytest.raises(KeyError, match="unknown item 'no-such-item'.*add_items"):
        stream.update_many(["u1", "u2"], ["302", "no-such-item"])
    # Nothing changed: the tokens are checked before any state moves.
    assert stream.length("u1") == 1 and "u2" not in stream
    torch.testing.assert_close(stream.full_scores(["u1"]), before)
    with pytest.raises(KeyError, match="unknown item '\\[PAD\\]'"):
        stream.update("u1", "[PAD]")
    with pytest.raises(KeyError, match="unknown user 'nobody'"):
        stream.recommend("nobody")
    with pytest.raises(ValueError, match="k must be a positive integer"):
        stream.recommend("u1", k=0)
    with pytest.raises(ValueError, match="same length"):
        stream.update_many(["u1"], ["1", "2"])


def test_training_mode_is_refused(fresh):
    _, model, dataset = fresh
    stream = StreamingRecommender(model, dataset)
    model.train()
    with pytest.raises(RuntimeError, match="training mode"):
        stream.update("u1", "242")
    assert "u1" not in stream


def test_bidirectional_model_is_refused(trained):
    config, _, dataset = trained
    config = copy.deepcopy(config)
    config["bidirectional"], config["transform"] = True, "mask_itemseq"
    bidirectional = get_model("HydraRec")(config, dataset)
    with pytest.raises(ValueError, match="causal HydraRec"):
        StreamingRecommender(bidirectional, dataset)
    with pytest.raises(ValueError, match="causal HydraRec"):
        add_items(bidirectional, dataset, ["new"])


def _stream_some(stream, dataset, n_users=40, rounds=MAX_LENGTH + 5):
    histories = user_histories(dataset, n_users)
    for p in range(rounds):
        users = [user for user, (sequence, _) in histories.items() if len(sequence) > p]
        stream.update_many(users, tokens(dataset, [histories[user][0][p] for user in users]))
    return list(histories)


def test_save_and_load_round_trip(trained, tmp_path):
    _, model, dataset = trained
    stream = StreamingRecommender(model, dataset)
    users = _stream_some(stream, dataset)
    stream.update("short-user", "50")
    users.append("short-user")
    path = tmp_path / "states" / "stream.pt"
    stream.save(path)
    assert os.listdir(path.parent) == ["stream.pt"]  # the temporary file was renamed, not left

    restarted = StreamingRecommender(model, dataset)
    restarted.load(path)
    assert restarted.users == stream.users
    torch.testing.assert_close(restarted.full_scores(users), stream.full_scores(users), rtol=0, atol=0)
    for user in ("short-user", users[0]):
        assert restarted.history(user) == stream.history(user) and restarted.length(user) == stream.length(user)
        assert restarted.recommend(user) == stream.recommend(user)  # seen items survive too
    # Both carry on identically: within the window (S is restored) and past it.
    for s in (stream, restarted):
        s.update_many(["short-user", users[0]], ["100", "181"])
    torch.testing.assert_close(restarted.full_scores(users), stream.full_scores(users))

    (tmp_path / "garbage.pt").write_bytes(b"not a state file")
    with pytest.raises(ValueError, match="garbage.pt: not a StreamingRecommender state file"):
        restarted.load(tmp_path / "garbage.pt")


def test_states_loaded_into_changed_weights_are_recomputed_exactly(trained, fresh, tmp_path):
    _, model, dataset = trained
    stream = StreamingRecommender(model, dataset)
    users = _stream_some(stream, dataset)
    stream.save(tmp_path / "stream.pt")

    _, changed, changed_dataset = fresh  # e.g. a fine-tuned model with the same catalogue
    with torch.no_grad():
        changed.layers[1].attention.qkv.weight.mul_(1.5)
    reloaded = StreamingRecommender(changed, changed_dataset)
    reloaded.load(tmp_path / "stream.pt")
    rows = stream._window[: len(users)]  # windows are weight-free: RecBole-style item_seq
    lengths = torch.clamp(stream._length[: len(users)], max=MAX_LENGTH)
    with torch.no_grad():
        expected = changed.full_sort_predict({changed.ITEM_SEQ: rows, changed.ITEM_SEQ_LEN: lengths})
    torch.testing.assert_close(reloaded.full_scores(users), expected, **TOLERANCE)


def test_grown_catalogue_keeps_old_scores_and_streams_new_items(trained, fresh, tmp_path):
    _, model, dataset = fresh
    stream = StreamingRecommender(model, dataset)
    users = _stream_some(stream, dataset)
    old_items = model.n_items
    old_embeddings = model.item_embedding.weight.detach().clone()
    before = stream.full_scores(users)

    ids = stream.add_items(["new-song", "new-film"])
    assert ids == [old_items, old_items + 1] and model.n_items == old_items + 2
    assert list(dataset.token2id(dataset.iid_field, ["new-song", "new-film"])) == ids
    assert dataset.id2token(dataset.iid_field, ids[1]) == "new-film" and dataset.item_num == old_items + 2
    torch.testing.assert_close(model.item_embedding.weight[:old_items], old_embeddings, rtol=0, atol=0)
    # "mean" initialisation, documented in catalogue.py.
    torch.testing.assert_close(model.item_embedding.weight[ids[0]], old_embeddings[1:].mean(0))
    after = stream.full_scores(users)
    torch.testing.assert_close(after[:, :old_items], before, rtol=0, atol=0)  # old items untouched

    # New items stream and get recommended without retraining, still matching full_sort_predict.
    stream.update_many([users[0], "fresh-user"], ["new-song", "new-film"])
    assert "new-film" not in stream.recommend("fresh-user").items  # seen
    assert stream.history("fresh-user") == ["new-film"]
    rows = stream._window[[0, len(users)]]
    lengths = torch.clamp(stream._length[[0, len(users)]], max=MAX_LENGTH)
    with torch.no_grad():
        expected = model.full_sort_predict({model.ITEM_SEQ: rows, model.ITEM_SEQ_LEN: lengths})
    torch.testing.assert_close(stream.full_scores([users[0], "fresh-user"]), expected, **TOLERANCE)
    with pytest.raises(ValueError, match="already in the catalogue.*new-song"):
        stream.add_items(["new-song"])

    # After a restart (the original model and dataset again), the saved file restores the new items.
    stream.save(tmp_path / "grown.pt")
    original, original_dataset = copy.deepcopy(trained[1]), copy.deepcopy(trained[2])
    restarted = StreamingRecommender(original, original_dataset)
    restarted.load(tmp_path / "grown.pt")
    assert original.n_items == old_items + 2
    torch.testing.assert_close(restarted.full_scores(stream.users), stream.full_scores(stream.users), rtol=0, atol=0)


def test_carry_over_and_fine_tune_on_new_data(trained, workdir, tmp_path):
    from helpers import TINY

    config, model, dataset = trained
    # New data (kept small for speed): the first 200 users' ml-100k ratings, then two later
    # interactions each with items the trained model has never seen.
    with open(os.path.join(config["data_path"], "ml-100k.inter")) as f:
        header, *lines = f.read().splitlines()
    kept = [line for line in lines if int(line.split("\t")[0]) <= 200]
    new_rows = [
        f"{user}\tnew-{(user + step) % 3}\t5\t{900000000 + 10 * user + step}"
        for user in range(1, 201)
        for step in (0, 1)
    ]
    target = tmp_path / "data" / "ml-100k-new"
    target.mkdir(parents=True)
    (target / "ml-100k-new.inter").write_text("\n".join([header] + kept + new_rows) + "\n")

    settings = {key: value for key, value in TINY.items() if key not in ("n_layers", "MAX_ITEM_LIST_LENGTH")}
    new_config = fine_tune_config(
        config,
        "ml-100k-new",
        overrides=dict(
            settings,
            data_path=str(tmp_path / "data"),
            load_col={"inter": ["user_id", "item_id", "timestamp"]},
            checkpoint_dir=str(tmp_path / "saved"),
        ),
    )
    assert new_config["n_layers"] == 2 and new_config["MAX_ITEM_LIST_LENGTH"] == MAX_LENGTH  # from the checkpoint

    # carry_over by itself: every weight kept, item rows matched by token, not by id.
    new_dataset = create_dataset(new_config)
    fresh_model = get_model("HydraRec")(new_config, new_dataset)
    added = carry_over(model, dataset, fresh_model, new_dataset)
    assert sorted(added) == ["new-0", "new-1", "new-2"]
    for token in ("242", "1", "50"):
        old_id = dataset.token2id(dataset.iid_field, token)
        new_id = new_dataset.token2id(new_dataset.iid_field, token)
        torch.testing.assert_close(fresh_model.item_embedding.weight[new_id], model.item_embedding.weight[old_id])
    dense = "layers.1.feed_forward.dense_1.weight"
    torch.testing.assert_close(fresh_model.state_dict()[dense], model.state_dict()[dense])

    # The whole path through RecBole: carried-over weights, then RecBole's trainer.
    result = fine_tune(model, dataset, new_config)
    assert result.epochs_run == 1 and result.dataset == "ml-100k-new" and "ndcg@10" in result.test_result
    _, tuned, tuned_dataset, _, _, _ = load_data_and_model(result.checkpoint)
    assert tuned.n_items == new_dataset.item_num
    assert not torch.equal(tuned.layers[0].attention.qkv.weight, model.layers[0].attention.qkv.weight)  # it trained
    stream = StreamingRecommender(tuned, tuned_dataset)
    stream.update("1", "new-0")
    assert stream.length("1") == 1


def test_stream_benchmark_cli_writes_its_table(checkpoint, tmp_path):
    from recbole_hydra.cli import main

    output = tmp_path / "bench"
    argv = ["stream", "--checkpoint", checkpoint, "--lengths", "3", "15", "--users", "4"]
    assert main(argv + ["--output", str(output)]) == 0
    with open(output / "stream.csv") as f:
        header, *rows = [line.split(",") for line in f.read().splitlines()]
    assert header[:5] == ["history", "update_ms", "recompute_ms", "recompute_window", "speedup"]
    assert [row[0] for row in rows] == ["3", "15"]
    assert [row[3] for row in rows] == ["3", str(MAX_LENGTH)]  # past N the recompute covers the window only
    assert all(float(row[-1]) < 1e-4 for row in rows)  # update and recompute give the same scores
    assert "| history |" in (output / "stream.md").read_text()
    assert main(["stream", "--checkpoint", str(tmp_path / "missing.pth")]) == 2
