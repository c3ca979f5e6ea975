"""The learning-rate schedule (runtime/lr_schedule.py): its formula, the rates RecBole's Trainer
really steps with, its checks, and that without it RecBole trains as it always did."""

import re

import pytest
import torch
from recbole.trainer import Trainer

from recbole_hydra.config_errors import ConfigError
from recbole_hydra.runtime import lr_schedule
from recbole_hydra.runtime.config import build_config
from recbole_hydra.runtime.training import prepare, train_and_test

from helpers import overrides, write_dataset


@pytest.fixture(scope="module")
def syn(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lr_schedule")
    write_dataset(str(folder))
    return overrides(folder)


def test_the_factor_rises_linearly_then_decays_per_epoch():
    rates = [lr_schedule.lr_factor(step, 0, 4, 0.5) for step in range(6)]
    assert rates == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert lr_schedule.lr_factor(1, 2, 4, 0.5) == 0.5 * 0.25  # still warming up in epoch 2
    assert lr_schedule.lr_factor(10, 3, 0, 0.9) == pytest.approx(0.9**3)
    assert lr_schedule.lr_factor(10, 3, 0, 1.0) == 1.0


def _record_rates(monkeypatch):
    """The rate of every optimizer step RecBole's Trainer takes, as (epoch, lr)."""
    rates, epoch = [], [None]
    original_train_epoch = Trainer._train_epoch

    def train_epoch(self, train_data, epoch_idx, *args, **kwargs):
        epoch[0] = epoch_idx
        if not getattr(self.optimizer, "_recording", False):
            self.optimizer.register_step_post_hook(
                lambda opt, a, k: rates.append((epoch[0], opt.param_groups[0]["lr"]))
            )
            self.optimizer._recording = True
        return original_train_epoch(self, train_data, epoch_idx, *args, **kwargs)

    monkeypatch.setattr(Trainer, "_train_epoch", train_epoch)
    return rates


def test_the_trainer_steps_with_the_scheduled_rates(syn, monkeypatch):
    rates = _record_rates(monkeypatch)
    settings = dict(
        syn, epochs=3, stopping_step=10, learning_rate=0.01, lr_warmup_steps=5, lr_decay=0.5, train_batch_size=16
    )
    train_and_test(build_config("HydraRec", "syn", overrides=settings), saved=False)
    per_epoch = len(rates) // 3
    assert len(rates) == 3 * per_epoch and per_epoch > 5  # the warm-up ends inside the first epoch
    expected = [0.01 * lr_schedule.lr_factor(step, step // per_epoch, 5, 0.5) for step in range(len(rates))]
    assert [epoch for epoch, _ in rates] == [step // per_epoch for step in range(len(rates))]
    assert [lr for _, lr in rates] == pytest.approx(expected)
    assert rates[0][1] == pytest.approx(0.002) and rates[-1][1] == pytest.approx(0.0025)


def test_without_the_keys_training_is_recboles_own(syn, monkeypatch):
    rates = _record_rates(monkeypatch)
    config = build_config("HydraRec", "syn", overrides=dict(syn, epochs=2, learning_rate=0.01))
    assert (config["lr_warmup_steps"], config["lr_decay"]) == (0, 1.0)  # the defaults: off
    train_and_test(config, saved=False)
    assert rates and all(lr == 0.01 for _, lr in rates)


def test_an_unscheduled_optimizer_gets_no_hook_and_no_state():
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))], lr=0.1)
    assert lr_schedule.attach(optimizer, {"lr_warmup_steps": 0, "lr_decay": 1.0}) is None
    assert lr_schedule.attach(optimizer, {"lr_warmup_steps": None, "lr_decay": None}) is None  # keys absent
    assert not optimizer._optimizer_step_pre_hooks
    assert set(optimizer.param_groups[0]) == set(torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))]).param_groups[0])


def test_the_schedule_position_travels_with_the_optimizer_state():
    """A resumed optimizer (load_state_dict, as RecBole resumes) goes on where the saved one stopped."""
    config = {"lr_warmup_steps": 4, "lr_decay": 0.5}

    def scheduled():
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.ones(2))], lr=0.1)
        lr_schedule.attach(optimizer, config)
        return optimizer

    first = scheduled()
    for _ in range(3):
        first.step()
    lr_schedule.start_epoch(first, 1)
    resumed = scheduled()
    resumed.load_state_dict(first.state_dict())
    for optimizer in (first, resumed):
        optimizer.step()
    assert first.param_groups[0]["lr"] == resumed.param_groups[0]["lr"] == pytest.approx(0.1 * 1.0 * 0.5)


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("lr_warmup_steps", -1, "'lr_warmup_steps' must be an integer ≥ 0, got -1"),
        ("lr_warmup_steps", 2.5, "'lr_warmup_steps' must be an integer ≥ 0, got 2.5"),
        ("lr_decay", 0, "'lr_decay' must be a number in (0, 1] (1: no decay), got 0"),
        ("lr_decay", 1.5, "'lr_decay' must be a number in (0, 1] (1: no decay), got 1.5"),
        ("lr_decay", "fast", "'lr_decay' must be a number in (0, 1] (1: no decay), got 'fast'"),
    ],
)
def test_bad_values_name_the_key(key, value, expected):
    for model in ("HydraRec", "SASRec"):
        with pytest.raises(ConfigError, match=re.escape(expected)):
            build_config(model, "ml-100k", overrides={key: value})


def test_a_misspelt_schedule_key_is_refused():
    with pytest.raises(ConfigError, match="'lr_warmup_step' \\(did you mean 'lr_warmup_steps'\\?\\)"):
        build_config("SASRec", "ml-100k", overrides={"lr_warmup_step": 100})


def test_a_trainer_with_its_own_epochs_refuses_the_schedule(syn):
    class OwnEpochs(Trainer):
        def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
            return 0.0

    config = build_config("HydraRec", "syn", overrides=dict(syn, lr_decay=0.9))
    model, *_ = prepare(config)
    with pytest.raises(ConfigError, match="OwnEpochs trains its epochs its own way"):
        OwnEpochs(config, model)


def test_recboles_own_config_gets_the_schedule_and_its_checks(syn):
    """run_recbole(model='SASRec', config_dict={...}) builds RecBole's Config, which knows nothing of these keys."""
    from recbole.config import Config

    settings = dict(syn, train_neg_sample_args=None)  # what our Config sets for CE; RecBole's asks for it
    config = Config(model="SASRec", dataset="syn", config_dict=dict(settings, lr_warmup_steps=3))
    model, *_ = prepare(config)
    assert Trainer(config, model).optimizer._optimizer_step_pre_hooks
    config = Config(model="SASRec", dataset="syn", config_dict=dict(settings, lr_decay="fast"))
    with pytest.raises(ConfigError, match="'lr_decay' must be a number in"):
        Trainer(config, model)


def test_a_checkpoint_saved_without_the_schedule_starts_it_when_resumed():
    plain = torch.optim.SGD([torch.nn.Parameter(torch.ones(2))], lr=0.1)
    plain.step()
    resumed = torch.optim.SGD([torch.nn.Parameter(torch.ones(2))], lr=0.1)
    lr_schedule.attach(resumed, {"lr_warmup_steps": 2, "lr_decay": 0.5})
    resumed.load_state_dict(plain.state_dict())  # param_groups without the schedule's keys
    lr_schedule.start_epoch(resumed, 1)
    resumed.step()
    assert resumed.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5 * 0.5)  # warm-up step 0 of 2, epoch 1
