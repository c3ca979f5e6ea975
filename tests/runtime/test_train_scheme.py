"""The two training schemes: windows that supervise every training target once and leak nothing,
evaluation rows identical to RecBole's, and a per-position loss equal to the per-prefix one."""

import numpy as np
import pytest
import torch
from recbole.data import create_dataset, data_preparation
from recbole.utils import get_model

from recbole_hydra.config_errors import ConfigError
from recbole_hydra.runtime.config import build_config
from recbole_hydra.runtime.run_checks import training_settings
from recbole_hydra.runtime.train_scheme import (
    LEGACY_SCHEME,
    causal_windows,
    check_train_scheme,
    cloze_windows,
    scheme_for,
    scheme_of,
)

from helpers import TINY

N = 4  # short windows, so that long histories need several


def _write(folder, lengths):
    """User u has lengths[u] events; the item of event s is 100·u + s, so every event is recognisable."""
    path = folder / "win"
    path.mkdir()
    with open(path / "win.inter", "w", encoding="utf-8") as f:
        f.write("user_id:token\titem_id:token\ttimestamp:float\n")
        for user, length in enumerate(lengths):
            for step in range(length):
                f.write(f"u{user}\t{100 * user + step}\t{1000 + step}\n")


LENGTHS = [2, 3, 4, 5, 6, 7, 9, 12, 13]  # 1 to 3 windows, users too short for validation


def _built(folder, scheme, bidirectional=False, **extra):
    settings = dict(TINY, load_col={"inter": ["user_id", "item_id", "timestamp"]}, data_path=str(folder))
    settings.update(MAX_ITEM_LIST_LENGTH=N, train_scheme=scheme, bidirectional=bidirectional, mask_ratio=0.5)
    # round(1 / mask_ratio) whole copies, and by length alone, unless a test says otherwise
    settings.update(cloze_copies=0, cloze_copies_by_length=False, cloze_copies_min=1)
    settings.update(checkpoint_dir=str(folder / "saved"), **extra)
    config = build_config("HydraRec", "win", overrides=settings)
    dataset = create_dataset(config)
    return config, dataset, data_preparation(config, dataset)


def _event_of(dataset, item_ids):
    """Original item tokens (100·user + step) of internal item ids; 0 (padding) stays None."""
    tokens = dataset.field2id_token[dataset.iid_field]
    return [None if i == 0 else int(tokens[i]) for i in item_ids]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("schemes")
    _write(folder, LENGTHS)
    return folder


def test_validation_and_test_rows_are_recboles(folder):
    _, _, (_, prefix_valid, prefix_test) = _built(folder, "prefix")
    _, _, (_, valid, test) = _built(folder, "sequence")
    for ours, recboles in ((valid, prefix_valid), (test, prefix_test)):
        ours, recboles = ours.dataset.inter_feat, recboles.dataset.inter_feat
        assert sorted(ours.columns) == sorted(recboles.columns)
        for column in recboles.columns:
            torch.testing.assert_close(ours[column], recboles[column], msg=column)


def _held_out(dataset_loaders):
    """(user token, item token) of every validation and test target."""
    _, valid, test = dataset_loaders
    held = set()
    for loader in (valid, test):
        feat = loader.dataset.inter_feat
        held |= set(_event_of(loader.dataset, feat["item_id"].tolist()))
    return held


def test_causal_windows_supervise_every_training_target_once_and_leak_nothing(folder):
    _, _, prefix_loaders = _built(folder, "prefix")
    _, dataset, loaders = _built(folder, "sequence")
    train = loaders[0].dataset.inter_feat
    expected = sorted(_event_of(dataset, prefix_loaders[0].dataset.inter_feat["item_id"].tolist()))
    targets = train["Target_item_id_list"]
    supervised = sorted(e for e in _event_of(dataset, targets[targets > 0].tolist()))
    assert supervised == expected  # each training target exactly once, nothing else
    seen = set(_event_of(dataset, train["item_id_list"][train["item_id_list"] > 0].tolist()))
    assert not seen & _held_out(loaders)  # no validation or test event as an input either
    for inputs, targets, length in zip(train["item_id_list"], train["Target_item_id_list"], train["item_length"]):
        events = _event_of(dataset, inputs[:length].tolist())
        assert events == list(range(events[0], events[0] + length))  # consecutive events of one user
        nexts = _event_of(dataset, targets[:length].tolist())
        assert nexts == [e + 1 for e in events]  # the target of position j is the event after it
        assert (inputs[length:] == 0).all() and (targets[length:] == 0).all()
    # the number of windows is the least that covers the targets: ceil(training targets / N) per user
    per_user = [max(0, n - 3) if n >= 4 else (1 if n == 3 else n - 1) for n in LENGTHS]
    assert len(train) == sum(-(-t // N) for t in per_user if t)


def test_cloze_windows_hold_each_training_event_once_and_leak_nothing(folder):
    """Once per copy: each window is repeated round(1 / mask_ratio) times."""
    _, dataset, loaders = _built(folder, "sequence", bidirectional=True)
    train = loaders[0].dataset.inter_feat
    events = _event_of(dataset, train["item_id_list"][train["item_id_list"] > 0].tolist())
    copies = round(1 / 0.5)  # mask_ratio 0.5: each window twice per epoch, masked afresh each time
    assert all(events.count(event) == copies for event in events)  # each event in one window (and its copies)
    held_out = _held_out(loaders)
    assert not set(events) & held_out
    all_events = {100 * user + step for user, n in enumerate(LENGTHS) for step in range(n)}
    assert set(events) == all_events - held_out  # every training event, the first of each user too
    assert (train["item_length"] <= N).all()


def test_cloze_copies_overrides_the_copies_mask_ratio_implies(folder):
    """cloze_copies: 3 at mask_ratio 0.5 (which alone gives 2): each event in 3 copies, 2 of them cut."""
    _, dataset, loaders = _built(folder, "sequence", bidirectional=True, cloze_copies=3)
    train = loaders[0].dataset.inter_feat
    events = _event_of(dataset, train["item_id_list"][train["item_id_list"] > 0].tolist())
    assert all(events.count(event) == 3 for event in events)
    assert int(train["_hydrarec_cut"].sum()) == 2 * len(train) // 3


def test_cloze_copies_by_length_weigh_windows_by_their_events(folder):
    """mask_ratio 0.5: 2 copies of a full window (N = 4), round(2 × length / 4) of a shorter one, at least 1."""
    _, _, loaders = _built(folder, "sequence", bidirectional=True, cloze_copies_by_length=True)
    train = loaders[0].dataset.inter_feat
    uncut = ~train["_hydrarec_cut"]
    for start, length in zip(train["_hydrarec_start"][uncut].tolist(), train["item_length"][uncut].tolist()):
        copies = int((train["_hydrarec_start"] == start).sum())
        assert copies == max(1, round(2 * length / N)), (start, length, copies)  # round half to even, as np.rint


@pytest.mark.parametrize("fewest, expected_fewest", [(0, 2), (3, 3)])  # 0: round(1 / mask_ratio) = 2
def test_cloze_copies_min_raises_short_windows_to_the_floor(folder, fewest, expected_fewest):
    """cloze_copies 4 by length at N = 4: a window of L events gets L copies, and at least the floor."""
    _, _, loaders = _built(
        folder, "sequence", bidirectional=True, cloze_copies=4, cloze_copies_by_length=True, cloze_copies_min=fewest
    )
    train = loaders[0].dataset.inter_feat
    uncut = ~train["_hydrarec_cut"]
    raised = 0
    for start, length in zip(train["_hydrarec_start"][uncut].tolist(), train["item_length"][uncut].tolist()):
        copies = int((train["_hydrarec_start"] == start).sum())
        assert copies == max(expected_fewest, length), (start, length, copies)
        raised += length < expected_fewest
    assert raised  # some window is shorter than the floor, so the floor was tested


def test_cloze_window_copies_are_read_as_prefix_rows_of_random_events(folder):
    """The first copy of each window is read whole; each other copy is read as RecBole's prefix row of
    a random event of its window (the up to N events ending there, reaching back across the window's
    start), drawn afresh at every read."""
    _, dataset, loaders = _built(folder, "sequence", bidirectional=True)
    train = loaders[0].dataset
    whole = train.inter_feat
    cut = whole["_hydrarec_cut"]
    assert int(cut.sum()) == len(whole) // 2  # mask_ratio 0.5: two copies, one of them cut
    held_out = _held_out(loaders)
    np.random.seed(0)
    reads = [train[np.arange(len(whole))] for _ in range(20)]
    crossed = False
    for read in reads:
        assert not any(field.startswith("_hydrarec") for field in read.columns)
        assert torch.equal(read["item_id_list"][~cut], whole["item_id_list"][~cut])  # first copies: whole
        for row, window in zip(read["item_id_list"][cut].tolist(), whole["item_id_list"][cut].tolist()):
            events = [e for e in _event_of(dataset, row) if e is not None]
            window_events = [e for e in _event_of(dataset, window) if e is not None]
            user, last = divmod(events[-1], 100)
            assert events[-1] in window_events  # it ends at an event of its window
            assert events == [100 * user + step for step in range(max(0, last - N + 1), last + 1)]  # its prefix row
            assert not set(events) & held_out
            crossed |= events[0] < window_events[0]
    assert crossed  # some reach back into the user's earlier window
    lengths = torch.stack([read["item_length"][cut] for read in reads])  # (20, R)
    assert (lengths != lengths[0]).any(dim=0).float().mean() > 0.5  # drawn afresh: most copies vary


def test_windows_tile_from_the_most_recent_target():
    # user events 10..19 (first 10), targets 11..19: 9 targets, N = 4 → 4 + 4 + 1, the short one oldest
    assert causal_windows(np.array([10]), np.array([19]), 4).tolist() == [[15, 4], [11, 4], [10, 1]]
    assert cloze_windows(np.array([10]), np.array([19]), 4).tolist() == [[16, 4], [12, 4], [10, 2]]
    assert causal_windows(np.array([0, 5]), np.array([1, 5]), 4).tolist() == [[0, 1]]  # no targets: no window


def test_window_loss_equals_the_per_prefix_loss_of_the_same_pairs(tmp_path):
    """Histories that fit one window: each position sees exactly the prefix RecBole would give it,
    so the mean loss over all positions equals the mean over RecBole's prefix rows."""
    _write(tmp_path, [3, 4, 5, 6])  # at most 3 training targets per user ≤ N
    losses = {}
    for scheme in ("prefix", "sequence"):
        config, dataset, (train, _, _) = _built(tmp_path, scheme, train_batch_size=1000, n_layers=2)
        torch.manual_seed(0)
        model = get_model("HydraRec")(config, train.dataset).double().eval()  # same seed: same weights
        batch = train.dataset.inter_feat
        losses[scheme] = model.calculate_loss(batch).item()
    assert losses["sequence"] == pytest.approx(losses["prefix"], rel=1e-12)


def test_sequence_scheme_needs_time_order(tmp_path):
    _write(tmp_path, [5, 5])
    with pytest.raises(ConfigError, match="eval_args order 'TO'"):
        _built(tmp_path, "sequence", eval_args={"split": {"LS": "valid_and_test"}, "order": "RO", "mode": "full"})


def test_one_reading_of_the_scheme_with_the_legacy_default():
    """A saved config without the key trained per prefix; a run not yet configured reads the setting,
    else its model's default; RecBole's models build RecBole's rows."""
    config = build_config("HydraRec", "ml-100k", overrides=TINY)
    assert scheme_of(config) == "sequence"
    config["train_scheme"] = None  # as unpickled from a checkpoint saved before the key existed
    assert scheme_of(config) == LEGACY_SCHEME == "prefix"
    assert check_train_scheme(config)["train_scheme"] == "prefix"
    assert scheme_for("HydraRec", {}) == "sequence" and scheme_for("HydraRec", {"train_scheme": "prefix"}) == "prefix"
    assert scheme_for("SASRec", {"train_scheme": "sequence"}) == "prefix"


@pytest.mark.parametrize(
    "mode, kept",
    [
        ({"bidirectional": False}, set()),  # causal: no masking key shapes its rows
        ({"bidirectional": True, "train_scheme": "prefix"}, {"mask_ratio"}),  # per prefix: no window copies
        ({"bidirectional": True}, {"mask_ratio", "cloze_copies", "cloze_copies_by_length", "cloze_copies_min"}),
    ],
)
def test_a_run_must_keep_only_the_row_keys_of_its_mode(mode, kept):
    """Resume and a comparison's rows check these settings: a default that a mode ignores must not
    refuse its checkpoints or rows."""
    default = build_config("HydraRec", "ml-100k", overrides=mode)
    changes = {"mask_ratio": 0.3, "cloze_copies": 7, "cloze_copies_min": 2}
    changes["cloze_copies_by_length"] = not default["cloze_copies_by_length"]
    base = training_settings(default)
    for key, value in changes.items():
        other = training_settings(build_config("HydraRec", "ml-100k", overrides=dict(mode, **{key: value})))
        assert (base != other) == (key in kept), key
