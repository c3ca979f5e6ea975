"""`exclude_seen`: each evaluation row masks exactly the items of its user's events before the target,
checked against a reference computed from the raw file, for RecBole's own sequential dataset (SASRec,
per prefix) and HydraRec's windows alike; the metrics equal a hand-made ranking; nothing leaks."""

import math

import numpy as np
import pytest
import torch
from recbole.data import create_dataset, data_preparation
from recbole.utils import get_model, get_trainer

from recbole_hydra import StreamingRecommender
from recbole_hydra.config_errors import ConfigError
from recbole_hydra.runtime.config import build_config
from recbole_hydra.runtime.training import train_and_test

from helpers import TINY

N = 4  # histories longer than N: the seen items reach back past the row's item list

# (user, item, timestamp), in file order. u0 repeats item 3 (its test target was seen before) and has
# two events at the same time (the file order decides, as RecBole's stable sort does); u1 is longer
# than N before its targets; u2's test item first appears after its validation target.
EVENTS = [
    ("u0", 1, 10), ("u0", 2, 20), ("u0", 3, 30), ("u0", 4, 30), ("u0", 5, 40), ("u0", 3, 50),
    ("u1", 6, 1), ("u1", 7, 2), ("u1", 8, 3), ("u1", 9, 4), ("u1", 1, 5), ("u1", 2, 6), ("u1", 10, 7), ("u1", 11, 8),
    ("u2", 5, 3), ("u2", 4, 2), ("u2", 12, 1), ("u2", 8, 4), ("u2", 6, 9),
    ("u3", 2, 1), ("u3", 3, 2), ("u3", 4, 3), ("u3", 5, 4),
]  # fmt: skip


def reference():
    """{(user, target item, 'valid' | 'test'): the items of the user's events before it}, from EVENTS alone."""
    seen = {}
    for user in sorted({u for u, _, _ in EVENTS}):
        ordered = sorted((t, i, item) for i, (u, item, t) in enumerate(EVENTS) if u == user)  # time, then file order
        items = [item for _, _, item in ordered]
        seen[(user, items[-2], "valid")] = set(items[:-2])
        seen[(user, items[-1], "test")] = set(items[:-1])
    return seen


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("seen")
    (folder / "seen").mkdir()
    with open(folder / "seen" / "seen.inter", "w", encoding="utf-8") as f:
        f.write("user_id:token\titem_id:token\ttimestamp:float\n")
        f.writelines(f"{user}\t{item}\t{time}\n" for user, item, time in EVENTS)
    return folder


def settings(folder, **extra):
    base = dict(
        TINY,
        load_col={"inter": ["user_id", "item_id", "timestamp"]},
        data_path=str(folder),
        checkpoint_dir=str(folder / "saved"),
        MAX_ITEM_LIST_LENGTH=N,
        topk=[5],
        valid_metric="NDCG@5",
        exclude_seen=True,
    )
    return {**base, **extra}


def masked_items(folder, model, **extra):
    """{(user, target item, phase): the item tokens the loader masks for that row}."""
    config = build_config(model, "seen", overrides=settings(folder, **extra))
    dataset = create_dataset(config)
    _, valid, test = data_preparation(config, dataset)
    users, items = dataset.field2id_token["user_id"], dataset.field2id_token["item_id"]
    masked = {}
    for phase, loader in (("valid", valid), ("test", test)):
        for interaction, history_index, _, _ in loader:
            rows, item_ids = history_index
            for r in range(len(interaction)):
                key = (users[interaction["user_id"][r]], int(items[interaction["item_id"][r]]), phase)
                masked[key] = {int(items[i]) for i in item_ids[rows == r].tolist()}
    return masked


@pytest.mark.parametrize(
    "model, extra",
    [
        ("SASRec", {}),
        ("HydraRec", {}),
        ("HydraRec", {"train_scheme": "prefix"}),
        ("HydraRec", {"bidirectional": True, "mask_ratio": 0.5}),
    ],
    ids=["SASRec", "HydraRec-windows", "HydraRec-prefix", "HydraRec-bidirectional"],
)
def test_each_row_masks_exactly_the_items_before_its_target(folder, model, extra):
    assert masked_items(folder, model, **extra) == reference()


def test_no_held_out_item_leaks_into_the_validation_mask(folder):
    masked = masked_items(folder, "HydraRec")
    # u2's test item (6) comes after its validation target: a candidate at validation time.
    assert 6 not in masked[("u2", 8, "valid")]
    assert 8 in masked[("u2", 6, "test")]  # ...and the validation item is seen by test time
    # u0's test target (3) was seen before: excluded, as the published protocol does.
    assert 3 in masked[("u0", 3, "test")]


def test_without_the_key_nothing_is_masked(folder):
    config = build_config("HydraRec", "seen", overrides=settings(folder, exclude_seen=False))
    _, valid, test = data_preparation(config, create_dataset(config))
    assert all(history_index is None for loader in (valid, test) for _, history_index, _, _ in loader)


def test_metrics_equal_a_ranking_made_by_hand(syn_folder):
    """RecBole's NDCG@5 with the mask equals one computed here from full_sort_predict and the raw histories."""
    config = build_config("HydraRec", "syn", overrides=settings(syn_folder, MAX_ITEM_LIST_LENGTH=10, epochs=2))
    dataset = create_dataset(config)
    train, valid, test = data_preparation(config, dataset)
    model = get_model("HydraRec")(config, train._dataset)
    trainer = get_trainer(config["MODEL_TYPE"], "HydraRec")(config, model)
    trainer.fit(train, valid, saved=False, show_progress=False)
    result = trainer.evaluate(test, load_best_model=False)

    history = {}  # user token → item tokens in time order, read from the file itself
    with open(syn_folder / "syn" / "syn.inter", encoding="utf-8") as f:
        next(f)
        for user, _, item in sorted((u, float(t), i) for u, i, t in (line.split() for line in f)):
            history.setdefault(user, []).append(item)
    gains = []
    model.eval()
    with torch.no_grad():
        for interaction, _, _, _ in test:
            scores = model.full_sort_predict(interaction)  # (B, I)
            for r in range(len(interaction)):
                user = dataset.field2id_token["user_id"][interaction["user_id"][r]]
                target = int(interaction["item_id"][r])
                token = dataset.field2id_token["item_id"][target]
                before = history[user][: history[user].index(token)]  # no user repeats an item here
                row = scores[r].clone()
                row[0] = -math.inf
                row[[dataset.field2token_id["item_id"][t] for t in before]] = -math.inf
                rank = int((row > row[target]).sum())
                gains.append(1 / math.log2(rank + 2) if rank < 5 else 0.0)
    assert result["ndcg@5"] == pytest.approx(round(float(np.mean(gains)), 4), abs=1e-4)


@pytest.fixture(scope="module")
def syn_folder(tmp_path_factory):
    from helpers import write_dataset

    folder = tmp_path_factory.mktemp("syn-seen")
    write_dataset(folder, per_user=14)  # longer than N = 10: the mask reaches past the item list
    return folder


def test_a_run_reports_both_rankings(syn_folder):
    config = build_config("HydraRec", "syn", overrides=settings(syn_folder, MAX_ITEM_LIST_LENGTH=10, epochs=2))
    result = train_and_test(config, saved=False)
    assert result.ranking == "unseen items"
    assert set(result.test_result_all_items) == set(result.test_result)
    # The same model both ways; no user repeats an item in this data, so masking can only lift the target's rank.
    assert result.test_result["ndcg@5"] >= result.test_result_all_items["ndcg@5"]
    assert result.test_result["hit@5"] >= result.test_result_all_items["hit@5"]
    plain_settings = settings(syn_folder, MAX_ITEM_LIST_LENGTH=10, epochs=2, exclude_seen=False)
    plain = train_and_test(build_config("HydraRec", "syn", overrides=plain_settings), saved=False)
    assert plain.ranking == "all items" and plain.test_result_all_items == {}


def test_streaming_excludes_the_same_items(folder):
    """StreamingRecommender's exclude_seen means the same: after the user's events before the test target,
    the items it may still recommend are the ones the evaluator leaves as candidates."""
    config = build_config("HydraRec", "seen", overrides=settings(folder, hidden_dropout_prob=0.0))
    dataset = create_dataset(config)
    train, _, _ = data_preparation(config, dataset)
    stream = StreamingRecommender(get_model("HydraRec")(config, train._dataset), dataset)
    catalogue = set(int(t) for t in dataset.field2id_token["item_id"][1:])
    for user, target, phase in reference():
        if phase != "test":
            continue
        ordered = sorted((t, i, item) for i, (u, item, t) in enumerate(EVENTS) if u == user)
        for _, _, item in ordered[:-1]:
            stream.update(user, str(item))
        offered = {int(token) for token in stream.recommend(user, k=len(catalogue), exclude_seen=True).items}
        assert offered == catalogue - masked_items(folder, "HydraRec")[(user, target, phase)]


@pytest.mark.parametrize(
    "extra, expected",
    [
        ({"exclude_seen": "yes"}, "config key 'exclude_seen' must be True or False"),
        (
            {"eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "uni100"}},
            "config key 'exclude_seen' needs full ranking",
        ),
    ],
)
def test_bad_settings_name_the_key(folder, extra, expected):
    with pytest.raises(ConfigError, match=expected):
        build_config("HydraRec", "seen", overrides=settings(folder, **extra))


def test_general_models_are_refused(folder):
    with pytest.raises(ConfigError, match="applies to sequential models"):
        build_config("BPR", "seen", overrides=settings(folder))
