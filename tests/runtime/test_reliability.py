"""Run configuration checks, interruptions and resuming, reproducibility, and numerical safety."""

import argparse
import copy
import glob
import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from recbole.data import create_dataset, data_preparation
from recbole.data.interaction import Interaction
from recbole.trainer import Trainer
from recbole.utils import get_trainer, init_seed

from recbole_hydra import HydraAttention, HydraRec
from recbole_hydra.cli import main
from recbole_hydra.cli.args import positive_int_arg
from recbole_hydra.config_errors import ConfigError
from recbole_hydra.experiments.grids.grid import expand_models
from recbole_hydra.runtime.checkpoints import best_checkpoint_of, claim_checkpoint_path, history_path, load_checkpoint
from recbole_hydra.runtime.config import build_config
from recbole_hydra.runtime.model_names import sequential_model_class
from recbole_hydra.runtime.run_checks import check_resume_checkpoint
from recbole_hydra.runtime.training import TrainingInterrupted, best_epoch_of, prepare, train_and_test

from helpers import REPO, overrides, write_dataset


@pytest.fixture(scope="module")
def syn(tmp_path_factory):
    """A folder holding the synthetic dataset `syn` and a yaml that points RecBole at it."""
    folder = tmp_path_factory.mktemp("syn")
    write_dataset(folder)
    settings = overrides(folder, train_batch_size=128, stopping_step=50)
    yaml_file = folder / "syn.yaml"
    yaml_file.write_text("".join(f"{key}: {value!r}\n" for key, value in settings.items()))
    return folder, settings, str(yaml_file)


# ----- configuration --------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("epochs", 0, "config key 'epochs' must be a positive integer, got 0"),
        ("train_batch_size", -8, "config key 'train_batch_size' must be a positive integer"),
        ("eval_batch_size", 1.5, "config key 'eval_batch_size' must be a positive integer"),
        ("learning_rate", 0, "config key 'learning_rate' must be a positive number"),
        ("stopping_step", 0, "config key 'stopping_step' must be a positive integer"),
        ("MAX_ITEM_LIST_LENGTH", "50", "config key 'MAX_ITEM_LIST_LENGTH' must be a positive integer, got '50'"),
        ("seed", -1, "config key 'seed' must be an integer in [0, 2**32), got -1"),
        ("seed", 2.5, "config key 'seed' must be an integer in [0, 2**32)"),
        ("topk", [10, 0], "RecBole rejected the settings: topk must be a positive integer"),
        (
            "valid_metric",
            "NDCG@20",
            "config key 'valid_metric' must be one of the metrics this run computes (from 'metrics' and 'topk'): "
            "recall@10, mrr@10, ndcg@10",
        ),
        ("valid_metric", "AUC", "config key 'valid_metric' must be one of"),
        ("metrics", ["NDCG", "Foo"], "RecBole rejected the settings: There is no metric named 'Foo'"),
        ("hiden_size", 8, "unknown config key 'hiden_size' (did you mean 'hidden_size'?)"),
        ("nproc", 2, "config key 'nproc' is 2: run_hydrarec.py trains every run in one process"),
        ("world_size", 4, "config key 'world_size' is 4: run_hydrarec.py trains every run in one process"),
    ],
)
def test_run_config_errors_name_the_key(key, value, expected):
    with pytest.raises(ConfigError) as caught:
        build_config("HydraRec", "ml-100k", overrides={key: value})
    assert expected in str(caught.value)


def test_valid_metric_follows_metrics_and_topk():
    config = build_config(
        "HydraRec", "ml-100k", overrides={"metrics": ["Hit", "GAUC"], "topk": [5, 20], "valid_metric": "gauc"}
    )
    assert config["valid_metric"] == "gauc"
    build_config("HydraRec", "ml-100k", overrides={"metrics": ["Hit"], "topk": 20, "valid_metric": "Hit@20"})


@pytest.mark.parametrize(
    "name, expected",
    [
        ("SASRecc", "'SASRecc' is not a model RecBole or recbole-hydra knows (did you mean 'SASRec'?)"),
        ("hydrarec", "(did you mean 'HydraRec'?)"),
    ],
)
def test_unknown_model_is_a_config_error(name, expected):
    with pytest.raises(ConfigError) as caught:
        build_config(name, "ml-100k")
    assert expected in str(caught.value)


def test_cli_option_validators():
    assert positive_int_arg("3") == 3
    for text in ("0", "two"):
        with pytest.raises(argparse.ArgumentTypeError, match="expected"):
            positive_int_arg(text)
    assert sequential_model_class("GRU4Rec").__name__ == "GRU4Rec"
    with pytest.raises(ConfigError, match=r"option --models: 'BPR' is a general model"):
        sequential_model_class("BPR")
    with pytest.raises(ConfigError, match="option --models lists a model twice"):
        expand_models(["SASRec", "SASRec"])


# ----- checkpoints, interruptions and resuming -------------------------------------------


def test_checkpoint_save_is_atomic(syn, monkeypatch, tmp_path):
    """A write that dies half-way (Ctrl-C, kill, full disk) leaves the previous checkpoint whole."""
    _, settings, _ = syn
    config = build_config("HydraRec", "syn", overrides=dict(settings, checkpoint_dir=str(tmp_path)))
    model, *_ = prepare(config)
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    trainer._save_checkpoint(0, verbose=False)
    real_save = torch.save

    def dies_half_way(state, path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"PK\x03\x04 half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        trainer._save_checkpoint(1, verbose=False)
    monkeypatch.setattr(torch, "save", real_save)
    assert load_checkpoint(trainer.saved_model_file)["epoch"] == 0
    assert os.listdir(os.path.dirname(trainer.saved_model_file)) == [os.path.basename(trainer.saved_model_file)]


def _train_args(yaml_file, *extra):
    return ["train", "--dataset", "syn", "--config_files", yaml_file, *extra]


def test_interrupt_then_resume_loses_no_epoch(syn, monkeypatch, capsys):
    _, _, yaml_file = syn
    trained = []
    original_train_epoch = Trainer._train_epoch

    def train_epoch(self, train_data, epoch_idx, *args, **kwargs):
        if epoch_idx == 2 and not trained[-1:] == ["resumed"]:
            raise KeyboardInterrupt  # Ctrl-C during the third epoch
        trained.append(epoch_idx)
        return original_train_epoch(self, train_data, epoch_idx, *args, **kwargs)

    monkeypatch.setattr(Trainer, "_train_epoch", train_epoch)
    assert main(_train_args(yaml_file, "--epochs=4")) == 130
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert err.startswith("interrupted after epoch 1; checkpoint ") and "-last.pth; resume with: " in err
    last = err.split("checkpoint ")[1].split(";")[0]
    best = best_checkpoint_of(last)
    assert err.endswith(f"--epochs=4 --resume {last}")
    assert load_checkpoint(last)["epoch"] == 1
    assert os.path.isfile(best)

    trained.append("resumed")
    assert main(_train_args(yaml_file, "--epochs=4", "--resume", last)) == 0
    assert trained == [0, 1, "resumed", 2, 3]  # epochs 0-1 are not trained twice
    assert not os.path.exists(last)  # finished: only the best-model checkpoint stays
    assert load_checkpoint(best)["epoch"] in (0, 1, 2, 3)


def test_a_resumed_run_reports_its_whole_history(syn, monkeypatch):
    _, settings, _ = syn
    config = build_config("HydraRec", "syn", overrides=dict(settings, epochs=4, stopping_step=10))
    original_train_epoch = Trainer._train_epoch
    interrupts = [2]

    def train_epoch(self, train_data, epoch_idx, *args, **kwargs):
        if epoch_idx == 2 and interrupts[0]:
            interrupts[0] -= 1
            raise KeyboardInterrupt
        return original_train_epoch(self, train_data, epoch_idx, *args, **kwargs)

    monkeypatch.setattr(Trainer, "_train_epoch", train_epoch)
    with pytest.raises(TrainingInterrupted) as caught:
        train_and_test(config)
    last = caught.value.checkpoint
    assert caught.value.epoch == 1 and os.path.isfile(history_path(last))  # epochs 0 and 1

    # Interrupted again before the resumed run saved anything: the same checkpoint, still epoch 1.
    with pytest.raises(TrainingInterrupted) as caught:
        train_and_test(
            build_config("HydraRec", "syn", overrides=dict(settings, epochs=4, stopping_step=10)), resume_file=last
        )
    assert (caught.value.checkpoint, caught.value.epoch) == (last, 1)

    result = train_and_test(
        build_config("HydraRec", "syn", overrides=dict(settings, epochs=4, stopping_step=10)), resume_file=last
    )
    assert result.epochs_run == 4 and len(result.valid_scores) == 4
    assert result.best_epoch == best_epoch_of(list(enumerate(result.valid_scores)))
    assert load_checkpoint(result.checkpoint)["epoch"] == result.best_epoch  # the model tested
    assert result.best_valid_score == pytest.approx(max(result.valid_scores))
    assert not os.path.exists(last) and not os.path.exists(history_path(last))


@pytest.mark.parametrize(
    "bidirectional, events, schedule",
    [(False, 0, {}), (True, 0, {}), (False, 60, {}), (False, 0, {"lr_warmup_steps": 7, "lr_decay": 0.5})],
    ids=["causal", "bidirectional", "batches-by-events", "lr-schedule"],
)
def test_a_resumed_run_replays_the_uninterrupted_run_exactly(syn, monkeypatch, bidirectional, events, schedule):
    """Dropout, batch order (also planned by events), (bidirectional) masking and the learning-rate
    schedule continue where the interrupted run left them."""
    _, settings, _ = syn
    settings = dict(settings, epochs=4, stopping_step=10, bidirectional=bidirectional, train_batch_events=events)
    settings.update(schedule)
    original_train_epoch = Trainer._train_epoch
    losses, interrupt = [], [False]

    def train_epoch(self, train_data, epoch_idx, *args, **kwargs):
        if epoch_idx == 2 and interrupt[0]:
            interrupt[0] = False
            raise KeyboardInterrupt
        losses.append((epoch_idx, original_train_epoch(self, train_data, epoch_idx, *args, **kwargs)))
        return losses[-1][1]

    monkeypatch.setattr(Trainer, "_train_epoch", train_epoch)
    uninterrupted = train_and_test(build_config("HydraRec", "syn", overrides=settings))
    straight_losses, losses[:] = list(losses), []

    interrupt[0] = True
    with pytest.raises(TrainingInterrupted) as caught:
        train_and_test(build_config("HydraRec", "syn", overrides=settings))
    random.seed(1), np.random.seed(1), torch.manual_seed(1)  # whatever ran in between must not matter
    resumed = train_and_test(build_config("HydraRec", "syn", overrides=settings), resume_file=caught.value.checkpoint)
    # The training loss is a full-precision sum over every batch: any other dropout mask, batch
    # order or masked item would change it.
    assert losses == straight_losses and [epoch for epoch, _ in losses] == [0, 1, 2, 3]
    assert resumed.valid_scores == uninterrupted.valid_scores
    assert resumed.test_result == uninterrupted.test_result


def test_resuming_without_a_saved_random_state_says_so(syn, monkeypatch, caplog):
    _, settings, _ = syn
    settings = dict(settings, epochs=3, stopping_step=10, state="INFO")
    interrupt = [True]
    original_train_epoch = Trainer._train_epoch

    def train_epoch(self, train_data, epoch_idx, *args, **kwargs):
        if epoch_idx == 1 and interrupt[0]:
            interrupt[0] = False
            raise KeyboardInterrupt
        return original_train_epoch(self, train_data, epoch_idx, *args, **kwargs)

    monkeypatch.setattr(Trainer, "_train_epoch", train_epoch)
    with pytest.raises(TrainingInterrupted) as caught:
        train_and_test(build_config("HydraRec", "syn", overrides=settings))
    last = caught.value.checkpoint
    record = json.loads(open(history_path(last), encoding="utf-8").read())
    assert [epoch for epoch, _ in record.pop("random_states")] == [0]
    with open(history_path(last), "w", encoding="utf-8") as f:  # as written before random states were kept
        json.dump(record, f)
    result = train_and_test(build_config("HydraRec", "syn", overrides=settings), resume_file=last)
    assert result.epochs_run == 3
    assert f"{last} holds no random state for epoch 0" in caplog.text


def test_best_epoch_is_the_model_recbole_kept_on_a_tie():
    """RecBole saves a later epoch that ties the best score; the reported epoch must be that one."""
    scores = [(0, 0.04), (1, 0.0558), (2, 0.0549), (3, 0.0558), (4, 0.0521)]
    assert best_epoch_of(scores) == 3
    assert best_epoch_of([(0, 2.0), (1, 1.5), (2, 1.5), (3, 1.7)], bigger=False) == 2
    assert best_epoch_of([]) == -1


def test_interrupt_before_any_checkpoint_names_none(syn, monkeypatch):
    _, settings, _ = syn

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_train_epoch", interrupted)
    with pytest.raises(TrainingInterrupted) as caught:
        train_and_test(build_config("HydraRec", "syn", overrides=settings))
    assert isinstance(caught.value, KeyboardInterrupt)  # callers that know nothing of it still stop
    assert (caught.value.checkpoint, caught.value.epoch) == (None, None)


def test_resume_refuses_a_checkpoint_from_another_run(syn):
    _, settings, _ = syn
    result = train_and_test(build_config("HydraRec", "syn", overrides=dict(settings, epochs=1)))
    other = build_config("HydraRec", "syn", overrides=dict(settings, hidden_size=24, epochs=3))
    with pytest.raises(ConfigError, match=r"was trained with hidden_size=16 but this run has hidden_size=24"):
        check_resume_checkpoint(result.checkpoint, other)
    same = build_config("HydraRec", "syn", overrides=dict(settings, epochs=1))
    with pytest.raises(ConfigError, match=r"already finished epoch 0 of epochs=1; expected a larger --epochs"):
        check_resume_checkpoint(result.checkpoint, same)
    with pytest.raises(ConfigError, match="checkpoint nowhere.pth not found"):
        check_resume_checkpoint("nowhere.pth", same)
    truncated = result.checkpoint + ".truncated"
    with open(result.checkpoint, "rb") as f, open(truncated, "wb") as g:
        g.write(f.read(1000))
    with pytest.raises(ConfigError, match="is not a readable checkpoint"):
        check_resume_checkpoint(truncated, same)
    assert (
        check_resume_checkpoint(result.checkpoint, build_config("HydraRec", "syn", overrides=dict(settings, epochs=3)))[
            "epoch"
        ]
        == 0
    )


def test_sigint_from_outside_prints_one_line_and_exits_130(syn):
    """A real Ctrl-C to a real process: no traceback, the checkpoint it names loads."""
    folder, _, yaml_file = syn
    saved = os.path.join(str(folder), "saved")
    before = set(glob.glob(os.path.join(saved, "*-last.pth")))
    process = subprocess.Popen(
        [sys.executable, os.path.join(REPO, "run_hydrarec.py"), *_train_args(yaml_file, "--epochs=500")],
        cwd=str(folder),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
        # A shell starts background jobs with SIGINT ignored and Python keeps an ignored SIGINT:
        # give the run the default disposition, as a terminal would.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 240
    while set(glob.glob(os.path.join(saved, "*-last.pth"))) == before and process.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint within 240 s"
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130
    assert "Traceback" not in err
    (line,) = [line for line in err.splitlines() if line.startswith("interrupted")]
    checkpoint = line.split("checkpoint ")[1].split(";")[0]
    assert load_checkpoint(os.path.join(str(folder), checkpoint))["epoch"] >= 0
    assert not glob.glob(os.path.join(saved, "*.tmp-*"))


# ----- reproducibility ----------------------------------------------------------------


def test_same_seed_gives_the_same_metrics_and_weights(syn):
    _, settings, _ = syn
    runs = [
        train_and_test(build_config("HydraRec", "syn", overrides=dict(settings, epochs=2, seed=seed)))
        for seed in (7, 7, 8)
    ]
    first, second, other = runs
    assert len({run.checkpoint for run in runs}) == 3  # RecBole would name all three by the same second
    assert first.test_result == second.test_result and first.valid_scores == second.valid_scores
    assert first.test_result["ndcg@5"] > 0
    weights = [load_checkpoint(run.checkpoint)["state_dict"] for run in runs]
    for name, tensor in weights[0].items():
        assert torch.equal(tensor, weights[1][name]), name
    assert not all(torch.equal(tensor, weights[2][name]) for name, tensor in weights[0].items())


# ----- numerical safety ---------------------------------------------------------------


@pytest.fixture(scope="module", params=[False, True], ids=["causal", "bidirectional"])
def hydrarec(request, syn):
    _, settings, _ = syn
    config = build_config(
        "HydraRec",
        "syn",
        overrides=dict(settings, bidirectional=request.param, hidden_dropout_prob=0.0, attn_dropout_prob=0.0),
    )
    init_seed(config["seed"], True)
    dataset = create_dataset(config)
    train_data, _, _ = data_preparation(config, dataset)  # builds the mask transform's field names
    model = HydraRec(config, train_data._dataset)
    return model, next(iter(train_data))


def _edge_batch(model, histories):
    """An Interaction for the next-item (causal) or masked-item (bidirectional) loss."""
    n = model.max_seq_length
    seq = torch.zeros(len(histories), n, dtype=torch.long)
    for row, items in enumerate(histories):
        seq[row, : len(items)] = torch.tensor(items)
    lengths = torch.tensor([max(len(items), 1) for items in histories])
    batch = {
        model.ITEM_SEQ: seq,
        model.ITEM_SEQ_LEN: lengths,
        model.POS_ITEM_ID: torch.ones(len(histories), dtype=torch.long),
    }
    if model.bidirectional:
        masked = seq.clone()
        masked[torch.arange(len(histories)), lengths - 1] = model.mask_token  # mask each history's last item
        batch.update(
            {
                model.MASK_ITEM_SEQ: masked,
                model.MASK_INDEX: (lengths - 1).unsqueeze(1),
                model.POS_ITEMS: seq.gather(1, (lengths - 1).unsqueeze(1)).clamp(min=1),
            }
        )
    return Interaction(batch)


EDGE_HISTORIES = {
    "all_padding": [[], []],
    "length_one": [[3], [5]],
    "mixed": [[], [4], list(range(1, 21))],  # padding, one item, a history longer than the model's window
}


def _assert_finite_forward_and_backward(model, batch):
    model.zero_grad()
    scores = model.full_sort_predict(batch)
    loss = model.calculate_loss(batch)
    loss.backward()
    assert torch.isfinite(scores).all()
    assert torch.isfinite(loss)
    for name, parameter in model.named_parameters():
        assert parameter.grad is None or torch.isfinite(parameter.grad).all(), name


@pytest.mark.parametrize("histories", list(EDGE_HISTORIES.values()), ids=list(EDGE_HISTORIES))
def test_edge_histories_stay_finite(hydrarec, histories):
    model, _ = hydrarec
    histories = [items[: model.max_seq_length] for items in histories]
    _assert_finite_forward_and_backward(model, _edge_batch(model, histories))
    encoded = model.encode(torch.zeros(2, model.max_seq_length, dtype=torch.long))  # rows of nothing but padding
    assert torch.isfinite(encoded).all()


def test_padding_rows_do_not_change_other_rows(hydrarec):
    model, _ = hydrarec
    model.eval()
    alone = _edge_batch(model, [[4, 9, 2]])
    together = _edge_batch(model, [[4, 9, 2], [], [7]])
    with torch.no_grad():
        torch.testing.assert_close(model.full_sort_predict(alone)[0], model.full_sort_predict(together)[0])
    model.train()


def test_zero_vectors_stay_finite(hydrarec):
    """All-zero embeddings make every query and key zero: φ(0) must be 0, and its gradient finite."""
    model, batch = hydrarec
    zeroed = copy.deepcopy(model)
    with torch.no_grad():
        zeroed.item_embedding.weight.zero_()
        zeroed.position_embedding.weight.zero_()
    _assert_finite_forward_and_backward(zeroed, batch)
    attention = HydraAttention(8, causal=True)
    x = torch.zeros(2, 5, 8, requires_grad=True)
    attention(x, torch.ones(2, 5, dtype=torch.bool)).sum().backward()
    assert torch.isfinite(x.grad).all()


def test_bf16_autocast_on_cpu_is_finite_and_close_to_fp32(hydrarec):
    model, batch = hydrarec
    model.eval()  # the mask transform's randomness is in the batch; eval removes dropout's
    with torch.no_grad():
        full = model.calculate_loss(batch)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _assert_finite_forward_and_backward(model, batch)
        with torch.no_grad():
            half = model.calculate_loss(batch)
    model.train()
    assert torch.isclose(half.float(), full, rtol=0.05), (half, full)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_half_precision_on_gpu_is_finite(hydrarec, dtype):
    model, batch = hydrarec
    model = copy.deepcopy(model).cuda()
    with torch.autocast("cuda", dtype=dtype):
        _assert_finite_forward_and_backward(model, batch.to("cuda"))


def test_long_causal_running_sum_in_bf16():
    """The causal prefix sum over thousands of positions must not overflow or drift far in bf16."""
    torch.manual_seed(0)
    attention = HydraAttention(32, causal=True).eval()
    x = torch.randn(2, 4096, 32)
    mask = torch.ones(2, 4096, dtype=torch.bool)
    with torch.no_grad():
        full = attention(x, mask)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = attention(x, mask)
    assert torch.isfinite(half).all()
    assert (half.float() - full).abs().max() < 0.1 * full.abs().max()


def test_runs_started_in_the_same_second_claim_distinct_checkpoints(tmp_path):
    # Side-by-side runs (compare --jobs 2) ask for the same RecBole name at the same moment.
    # Threads race on the same O_EXCL open as processes do, without forking a torch process.
    from concurrent.futures import ThreadPoolExecutor

    wanted = str(tmp_path / "saved" / "HydraRec-Nov-25-2026_19-57-59.pth")
    with ThreadPoolExecutor(8) as pool:
        claimed = list(pool.map(claim_checkpoint_path, [wanted] * 8))
    assert len(set(claimed)) == 8 and wanted in claimed
    assert all(os.path.getsize(path) == 0 for path in claimed)  # empty until the first save


def test_a_time_budget_stops_training_and_tests_the_best_model(syn, monkeypatch):
    """train_time_budget: after the evaluated epoch in which the training seconds reach it, the run
    stops, tests its best model and says it was capped."""
    _, settings, _ = syn
    clock = iter(range(0, 10**6, 5))  # every perf_counter call advances 5 s: each epoch counts as 5 s
    monkeypatch.setattr("recbole_hydra.runtime.training.time.perf_counter", lambda: next(clock))
    config = build_config("HydraRec", "syn", overrides=dict(settings, epochs=20, train_time_budget=12))
    result = train_and_test(config)
    assert result.budget_capped and result.epochs_run == 3  # 5 + 5 < 12 ≤ 5 + 5 + 5
    assert 0 <= result.test_result["ndcg@5"] <= 1 and result.best_epoch in (0, 1, 2)
    uncapped = train_and_test(build_config("HydraRec", "syn", overrides=dict(settings, epochs=2)))
    assert not uncapped.budget_capped
    with pytest.raises(ConfigError, match="train_time_budget"):
        build_config("HydraRec", "syn", overrides=dict(settings, train_time_budget=0))


def test_what_ended_a_run_is_named_and_early_stopping_wins_a_tie():
    from recbole_hydra.runtime.training import stopped_by

    assert stopped_by(early_stopped=True, budget_spent=True) == "early stopping"
    assert stopped_by(early_stopped=False, budget_spent=True) == "time budget"
    assert stopped_by(early_stopped=False, budget_spent=False) == "epoch cap"
