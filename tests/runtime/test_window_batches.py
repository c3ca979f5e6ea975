"""Batches by events: every window once per epoch, about E events a batch, similar lengths together,
drawn from the loader's own generator; RecBole's loader is replaced only where the key asks for it."""

import numpy as np
import pytest
import torch
from recbole.data import create_dataset, data_preparation
from recbole.data.dataloader.general_dataloader import TrainDataLoader

from recbole_hydra.config_errors import ConfigError
from recbole_hydra.runtime.config import build_config
from recbole_hydra.runtime.window_batches import WindowBatchLoader, cut_by_events, plan_batches

from helpers import overrides, write_dataset


def test_cut_by_events_keeps_order_and_starts_a_batch_before_the_budget_is_passed():
    lengths = np.array([3, 4, 2, 9, 1, 1])
    assert [b.tolist() for b in cut_by_events(lengths, 7)] == [[0, 1], [2], [3], [4, 5]]  # 9 > 7 stands alone


@pytest.mark.parametrize("events", [16, 50, 400])
def test_a_plan_holds_every_window_once_in_batches_of_about_e_events(events):
    lengths = torch.randint(1, 21, (1000,))
    plan = plan_batches(lengths, events, torch.Generator().manual_seed(0), pool_batches=5)
    rows = np.concatenate(plan)
    assert sorted(rows.tolist()) == list(range(1000))
    sizes = [int(lengths[batch].sum()) for batch in plan]
    assert all(size <= events or len(batch) == 1 for size, batch in zip(sizes, plan))
    # Cut only when the next window would pass the budget: full but for less than one window (20 events),
    # except the last batch of each pool of 5 batches' worth.
    pools = int(lengths.sum()) // (5 * events) + 1
    assert sum(size <= events - 20 for size in sizes) <= pools
    # Within a batch the windows are sorted, longest first: little padding after the longest.
    assert all((np.diff(lengths[batch].numpy()) <= 0).all() for batch in plan)


def test_the_loader_generator_decides_the_plan():
    lengths = torch.randint(1, 21, (300,))
    first = plan_batches(lengths, 64, torch.Generator().manual_seed(3))
    again = plan_batches(lengths, 64, torch.Generator().manual_seed(3))
    other = plan_batches(lengths, 64, torch.Generator().manual_seed(4))
    assert all(np.array_equal(a, b) for a, b in zip(first, again)) and len(first) == len(again)
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("events")
    write_dataset(folder)
    return folder


def test_a_run_with_the_key_trains_on_planned_batches(folder):
    config = build_config("HydraRec", "syn", overrides=overrides(folder, train_batch_events=100))
    train, _, _ = data_preparation(config, create_dataset(config))
    assert isinstance(train, WindowBatchLoader)
    lengths = train._dataset.inter_feat["item_length"]
    batches = list(train)
    assert len(batches) == sum(1 for _ in batches)
    assert sum(len(batch) for batch in batches) == len(lengths)  # every window once
    assert all(int(batch["item_length"].sum()) <= 100 or len(batch) == 1 for batch in batches)
    assert len(train) > 0  # the next epoch's plan is drawn when asked for


@pytest.mark.parametrize("extra", [{}, {"train_scheme": "prefix", "train_batch_events": 100}])
def test_without_the_key_or_per_prefix_recboles_loader_stays(folder, extra):
    config = build_config("HydraRec", "syn", overrides=overrides(folder, **extra))
    train, _, _ = data_preparation(config, create_dataset(config))
    assert type(train) is TrainDataLoader


def test_a_bad_value_names_the_key(folder):
    with pytest.raises(ConfigError, match="config key 'train_batch_events' must be an integer ≥ 0"):
        build_config("HydraRec", "syn", overrides=overrides(folder, train_batch_events=-5))
