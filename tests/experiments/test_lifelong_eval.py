"""`lifelong-eval`: its windowed score is RecBole's own test score (the protocol is RecBole's), and its
lifelong score reads the whole history, which differs once histories pass N."""

import pytest

from recbole_hydra.cli import main
from recbole_hydra.experiments import lifelong_eval
from recbole_hydra.online.streaming import StreamingRecommender
from recbole_hydra.runtime import inference
from recbole_hydra.runtime.config import build_config
from recbole_hydra.runtime.training import train_and_test

from helpers import overrides, write_dataset

N = 4  # histories of 12 events: most of each test history lies past N


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lifelong_eval")
    write_dataset(folder, users=60, items=20, per_user=12)
    settings = overrides(folder, MAX_ITEM_LIST_LENGTH=N, epochs=2, hidden_dropout_prob=0.1, attn_dropout_prob=0.1)
    result = train_and_test(build_config("HydraRec", "syn", overrides=settings))
    return result


def test_the_windowed_score_is_recboles_test_score(trained, monkeypatch):
    model, dataset = inference.build_model(inference.read_checkpoint(trained.checkpoint))
    replayed = []  # (positions, longest history) of each replay
    replay = StreamingRecommender.replay

    def spy(stream, users, histories):
        replayed.append((stream.model.positions, max(map(len, histories))))
        return replay(stream, users, histories)

    monkeypatch.setattr(StreamingRecommender, "replay", spy)
    results = lifelong_eval.evaluate(model, dataset, k=5)
    assert results["windowed"]["users"] == 60 and results["users_past_n"] == 60
    assert results["windowed"]["ndcg@5"] == pytest.approx(trained.test_result["ndcg@5"], abs=1e-4)
    assert results["windowed"]["hit@5"] == pytest.approx(trained.test_result["hit@5"], abs=1e-4)
    assert replayed == [("absolute", N), ("capped", 11)]  # the 11 events before each test event
    assert 0 <= results["lifelong"]["ndcg@5"] <= 1
    assert model.positions == "absolute"  # read as 'capped' for the lifelong pass only


def test_the_command_prints_both_and_their_ratio(trained, tmp_path, capsys):
    assert main(["lifelong-eval", "--checkpoint", trained.checkpoint, "--k", "5", "--output", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| windowed |" in out and "| lifelong |" in out and "lifelong / windowed NDCG@5:" in out
    assert (tmp_path / "lifelong_eval.md").read_text() == out
    assert main(["lifelong-eval", "--checkpoint", str(tmp_path / "missing.pth")]) == 2


def test_with_seen_items_excluded_the_windowed_score_is_recboles_unseen_test_score(tmp_path, capsys):
    write_dataset(tmp_path, users=40, items=20, per_user=8)
    settings = overrides(tmp_path, MAX_ITEM_LIST_LENGTH=N, epochs=1, exclude_seen=True)
    trained = train_and_test(build_config("HydraRec", "syn", overrides=settings))
    model, dataset = inference.build_model(inference.read_checkpoint(trained.checkpoint))
    results = lifelong_eval.evaluate(model, dataset, k=5, exclude_seen=True)
    assert results["windowed"]["ndcg@5"] == pytest.approx(trained.test_result["ndcg@5"], abs=1e-4)
    assert results["windowed"]["hit@5"] == pytest.approx(trained.test_result["hit@5"], abs=1e-4)
    everything = lifelong_eval.evaluate(model, dataset, k=5, exclude_seen=False)
    assert everything["windowed"]["ndcg@5"] == pytest.approx(trained.test_result_all_items["ndcg@5"], abs=1e-4)
    # The command follows the checkpoint's exclude_seen unless told otherwise.
    assert main(["lifelong-eval", "--checkpoint", trained.checkpoint, "--k", "5"]) == 0
    assert "ranking: unseen items" in capsys.readouterr().out
    assert main(["lifelong-eval", "--checkpoint", trained.checkpoint, "--k", "5", "--exclude-seen", "no"]) == 0
    assert "ranking: all items" in capsys.readouterr().out
