"""HydraRec's training rows: RecBole's one row per prefix, or windows of a user's history.

`train_scheme: prefix` is RecBole's SequentialDataset unchanged: a user's n events give n − 1
rows, each a history of up to N items and the one item after it.

`train_scheme: sequence` keeps RecBole's validation and test rows exactly (RecBole's own split
decides which events they are, on the same rows), but trains on windows:

* causal: a window is up to N consecutive events of one user, with a target at every position
  (the event after it). The windows tile a user's training targets from the most recent one
  backwards, so every training target is supervised exactly once per epoch; the oldest window
  may be shorter, and since it starts at the user's first event its targets see their whole
  history. A target at position j of a later window sees the j + 1 events before it in the window.
* bidirectional: a window is up to N consecutive training events of one user, tiled the same way;
  RecBole's mask transform then masks items anywhere in it (Cloze), or, in a `ft_ratio` share of
  batches, only its last item (next-item prediction, as at test time). Each window appears several
  times per epoch, each copy masked afresh (BERT4Rec's "dupe factor"): round(1 / mask_ratio) times
  with `cloze_copies: 0`, so that the batches that mask anywhere mask each event about once between
  them (with `ft_ratio` 0.5 an event is then a target about 0.5 times an epoch: 47,039 targets for
  98,114 events on ml-100k), or `cloze_copies` times; with `cloze_copies_by_length` (the default)
  a window of L events gets round(cloze_copies × L / N), at least `cloze_copies_min`.
  Every copy but the first is read as RecBole's prefix row of a random event of the window (the up
  to N events ending there, reaching back into the user's earlier window), drawn again each epoch,
  so that over the epochs the mask-at-the-end batches predict the next item of every event from
  the context a prefix row gives it, as RecBole's prefix rows do for all events at once
  (docs/training.md has the runs behind these choices).

No validation or test event enters a training window: with time ordering (`eval_args.order: TO`,
which the scheme requires) a user's training targets are the events before its validation one.
RecBole's per-prefix lists are never built for training, so memory grows with the number of
events, not with events × N (ml-1m at N = 200: 969,411 prefix rows against 8,586 windows).

This module owns the scheme: its names (TRAIN_SCHEMES), the scheme of configs saved before the key
existed (LEGACY_SCHEME), the checks of the keys that shape the training rows (`check_train_scheme`,
run as soon as a Config for HydraRec is built), and the one reading of the setting (`scheme_of`,
`scheme_for`) that the dataset, resume checks, grids, tune and compare share.

Shapes: E events, R rows, N = MAX_ITEM_LIST_LENGTH.
"""

import numpy as np
import torch
from recbole.data.dataset import SequentialDataset
from recbole.data.interaction import Interaction
from recbole.utils.enum_type import FeatureSource, FeatureType

from recbole_hydra.config_errors import ConfigError, boolean, non_negative_int, one_of, probability
from recbole_hydra.files import load_yaml
from recbole_hydra.model.hydrarec import target_sequence_field
from recbole_hydra.runtime.defaults import model_yaml
from recbole_hydra.runtime.model_names import PLUGIN_MODELS
from recbole_hydra.runtime.seen_items import SeenHistory, excluding_seen, keep_target_events

SEQUENCE, PREFIX = "sequence", "prefix"
TRAIN_SCHEMES = (SEQUENCE, PREFIX)
LEGACY_SCHEME = PREFIX  # configs saved before the key existed trained per prefix
EVENT_INDEX = "_hydrarec_event"  # a prefix row's target event: its item lists are built from it when needed
CUT = "_hydrarec_cut"  # a Cloze window copy to be read as a random prefix row of its window
WINDOW_START = "_hydrarec_start"  # a Cloze window's first event (an index into the events)


def scheme_of(config):
    """The scheme a HydraRec Config trains with: its `train_scheme`, or LEGACY_SCHEME where it has none."""
    return LEGACY_SCHEME if config["train_scheme"] is None else config["train_scheme"]


def scheme_for(model, settings):
    """The scheme a run of `model` with `settings` (a dict of overrides) trains with, before its Config
    exists: RecBole's models build RecBole's rows (per prefix); ours the setting, else their default."""
    if model not in PLUGIN_MODELS:
        return PREFIX
    default = load_yaml(model_yaml(model)).get("train_scheme", LEGACY_SCHEME)
    return settings.get("train_scheme", default)


# ----- checks -------------------------------------------------------------------------------


def check_train_scheme(config):
    """Validate the keys that shape HydraRec's training rows; return, as a plain dict, those that
    shape them in this run's mode and scheme.

    Run as soon as a Config for HydraRec is built (runtime/patches.py), beside the model's own
    checks; a resumed run must keep these values (run_checks.py). Keys a saved config lacks read
    as the runs that saved it used them.
    """
    if config["train_scheme"] is not None:
        one_of(config, "train_scheme", TRAIN_SCHEMES)
    settings = {
        # Checked in both modes: a bad value is a bad setting even where the mode ignores it.
        "mask_ratio": probability(config, "mask_ratio", closed_right=True),
        "ft_ratio": probability(config, "ft_ratio", closed_right=True),
        # Absent from configs saved before the key existed: those used round(1 / mask_ratio) copies.
        "cloze_copies": 0 if config["cloze_copies"] is None else non_negative_int(config, "cloze_copies"),
        "cloze_copies_by_length": False
        if config["cloze_copies_by_length"] is None
        else boolean(config, "cloze_copies_by_length"),
        "cloze_copies_min": LEGACY_COPIES_MIN
        if config["cloze_copies_min"] is None
        else non_negative_int(config, "cloze_copies_min"),
        "train_scheme": scheme_of(config),
    }
    if settings["train_scheme"] == SEQUENCE:
        _check_sequence_scheme(config)
    # What a run must keep (resume, a comparison's rows) is what shapes its rows in its mode: a causal
    # run ignores the masking keys, a bidirectional one per prefix the window copies.
    if not config["bidirectional"]:
        unused = ("mask_ratio", "ft_ratio", "cloze_copies", "cloze_copies_by_length", "cloze_copies_min")
    elif settings["train_scheme"] != SEQUENCE:
        unused = ("cloze_copies", "cloze_copies_by_length", "cloze_copies_min")
    else:
        unused = ()
    if config["bidirectional"] and int(settings["mask_ratio"] * config["MAX_ITEM_LIST_LENGTH"]) < 1:
        raise ConfigError(
            f"config keys 'mask_ratio' × 'MAX_ITEM_LIST_LENGTH' must be at least 1 (RecBole masks "
            f"int(mask_ratio × length) items), got {settings['mask_ratio']} × {config['MAX_ITEM_LIST_LENGTH']}"
        )
    return {key: value for key, value in settings.items() if key not in unused}


def _check_sequence_scheme(config):
    """Windows are cut from each user's time-ordered history: RecBole must split it that way."""
    if config["benchmark_filename"]:
        raise ConfigError(
            "config key 'train_scheme' is 'sequence', which cuts training windows from each user's history, "
            f"but 'benchmark_filename' {config['benchmark_filename']!r} gives ready-made rows; expected "
            "train_scheme: prefix for benchmark files"
        )
    order = (config["eval_args"] or {}).get("order")
    if order != "TO":
        raise ConfigError(
            "config key 'train_scheme' is 'sequence', which needs each user's training events to come before "
            f"their validation and test events; expected eval_args order 'TO' (time order), got {order!r}"
        )


# ----- windows, as index arithmetic ---------------------------------------------------------


def causal_windows(first_event, last_target, max_length):
    """(input start, length) per window: the target events first+1..last of each user, from the end.

    A window's inputs are events start..start+length-1; its targets are the events one later.
    """
    windows = []
    for first, last in zip(first_event.tolist(), last_target.tolist()):
        end = last  # the window's last target
        while end > first:
            length = min(max_length, end - first)
            windows.append((end - length, length))
            end -= length
    return np.array(windows, dtype=np.int64).reshape(-1, 2)


def cloze_windows(first_event, last_event, max_length):
    """(start, length) per window: the events first..last of each user, tiled from the end."""
    windows = []
    for first, last in zip(first_event.tolist(), last_event.tolist()):
        end = last
        while end >= first:
            length = min(max_length, end - first + 1)
            windows.append((end - length + 1, length))
            end -= length
    return np.array(windows, dtype=np.int64).reshape(-1, 2)


# Configs saved before `cloze_copies_min` existed: copies by length went down to one.
LEGACY_COPIES_MIN = 1


def cloze_copies(config):
    """Copies of each Cloze window per epoch: `cloze_copies`, or by default enough that each event
    is masked about once."""
    if config["cloze_copies"]:
        return config["cloze_copies"]
    return _copies_to_mask_each_event_once(config)


def cloze_copies_by_length(config, length, max_length):
    """(W,) copies of windows of `length` events under `cloze_copies_by_length`: in proportion to
    their events, round(cloze_copies × length / N), and at least `cloze_copies_min` (0: as many as
    masking each event about once takes, so a short window never gets fewer than without the key)."""
    fewest = LEGACY_COPIES_MIN if config["cloze_copies_min"] is None else config["cloze_copies_min"]
    fewest = fewest or _copies_to_mask_each_event_once(config)
    return np.maximum(fewest, np.rint(cloze_copies(config) * length / max_length)).astype(np.int64)


def _copies_to_mask_each_event_once(config):
    return max(1, round(1 / config["mask_ratio"])) if config["mask_ratio"] else 1


def gather_lists(values, start, length, max_length, offset=0):
    """(R, N, ...) lists: values[start + j + offset] at j < length, 0 after (right padding)."""
    positions = torch.as_tensor(start).unsqueeze(1) + offset + torch.arange(max_length)  # (R, N)
    real = torch.arange(max_length) < torch.as_tensor(length).unsqueeze(1)  # (R, N)
    lists = values[positions.clamp(max=len(values) - 1)]  # (R, N, ...)
    return lists * real.view(*real.shape, *([1] * (lists.dim() - 2))).to(lists.dtype)


# ----- the dataset ------------------------------------------------------------------------


class HydraRecDataset(SequentialDataset):
    """RecBole's SequentialDataset, with HydraRec's training scheme (RecBole's `create_dataset`
    picks a class named `<model>Dataset`: runtime/patches.py publishes this one)."""

    def _sequence_scheme(self):
        return scheme_of(self.config) == SEQUENCE and self.config["benchmark_filename"] is None

    def data_augmentation(self):
        """RecBole's prefix rows; under the sequence scheme without their item lists (built after the split)."""
        if not self._sequence_scheme():
            return super().data_augmentation()
        self._aug_presets()
        self._check_field("uid_field", "time_field")
        self.sort(by=[self.uid_field, self.time_field], ascending=True)
        users = self.inter_feat[self.uid_field].numpy()
        starts_user = np.r_[True, users[1:] != users[:-1]]  # (E,)
        first_event = np.maximum.accumulate(np.where(starts_user, np.arange(len(users)), 0))  # (E,)
        targets = np.flatnonzero(~starts_user)  # every event but a user's first: RecBole's rows, in its order
        history_start = np.maximum(first_event[targets], targets - self.max_item_list_len)  # the last N events
        rows = self.inter_feat[targets]
        rows.update(
            Interaction(
                {
                    self.item_list_length_field: torch.from_numpy(targets - history_start),
                    EVENT_INDEX: torch.from_numpy(targets),
                }
            )
        )
        if excluding_seen(self.config):
            keep_target_events(self, rows, SeenHistory(users, self.inter_feat[self.iid_field].numpy()))
        self._events, self._first_event = self.inter_feat, first_event
        self.inter_feat = rows

    def build(self):
        datasets = super().build()
        if not self._sequence_scheme():
            return datasets
        train, *evaluated = datasets
        for part in evaluated:
            part.inter_feat = self._prefix_rows(part.inter_feat)
        train.inter_feat = self._window_rows(train.inter_feat)
        return datasets

    def __getitem__(self, index, join=True):
        """Rows as RecBole's SequentialDataset gives them: the whole dataset's prefix rows get their
        item lists when they are read (RecBole's run_recbole reads one to count FLOPs)."""
        rows = self.inter_feat[index]
        if EVENT_INDEX in rows:
            rows = self._prefix_rows(rows)
        if CUT in rows:
            rows = self._cut(rows)
        return self.join(rows) if join else rows

    def _cut(self, rows):
        """Cloze window copies marked CUT are read as the prefix row of a random event of the window,
        drawn afresh at every read (epoch): the up to N events that end there, reaching back into the
        user's earlier window, as RecBole's prefix row of that event would."""
        cut, start = rows[CUT], rows[WINDOW_START][rows[CUT]].numpy()  # (R,), (C,)
        del rows[CUT], rows[WINDOW_START]
        if not cut.any():
            return rows
        end = start + np.random.randint(0, rows[self.item_list_length_field][cut].numpy())  # (C,) the row's last event
        new_start = np.maximum(
            self._first_event[start], end - self.max_item_list_len + 1
        )  # not before the user's first
        new_length = end - new_start + 1
        for list_field, cut_lists in self._event_lists(new_start, new_length).items():
            values = rows[list_field].clone()  # rows may be views of the stored windows
            values[cut] = cut_lists
            rows[list_field] = values
        lengths = rows[self.item_list_length_field].clone()
        lengths[cut] = torch.from_numpy(new_length).to(lengths.dtype)
        rows[self.item_list_length_field] = lengths
        return rows

    def _list_fields(self):
        """(event field, its list field) for every field RecBole gives a list (all but the user)."""
        return [(field, getattr(self, f"{field}_list_field")) for field in self._events if field != self.uid_field]

    def _event_lists(self, start, length):
        """{list field: (R, N, ...) lists} of the events start..start+length-1 of each row, right-padded."""
        n = self.max_item_list_len
        return {
            list_field: gather_lists(self._events[field], start, length, n) for field, list_field in self._list_fields()
        }

    def _prefix_rows(self, rows):
        """Prefix rows (validation, test) exactly as RecBole builds them: the last N events before the target."""
        target = rows[EVENT_INDEX].numpy()
        length = rows[self.item_list_length_field].numpy()
        rows.update(Interaction(self._event_lists(target - length, length)))
        del rows[EVENT_INDEX]  # only the dataset's own rows keep it (see __getitem__)
        return rows

    def _window_rows(self, rows):
        """The training rows RecBole split off, turned into windows (see the module docstring)."""
        is_target = np.zeros(len(self._events), dtype=bool)  # (E,) the training targets
        is_target[rows[EVENT_INDEX].numpy()] = True
        targets = np.flatnonzero(is_target)
        first = self._first_event[targets]
        users, last_index = np.unique(first[::-1], return_index=True)  # each user's last training target
        last_target = targets[len(targets) - 1 - last_index]
        n = self.max_item_list_len
        if self.config["bidirectional"]:
            whole = cloze_windows(users, last_target, n)
            if self.config["cloze_copies_by_length"]:  # as prefix rows weigh them: by the events they hold
                copies = cloze_copies_by_length(self.config, whole[:, 1], n)
            else:
                copies = np.full(len(whole), cloze_copies(self.config))
            # The first copy of every window, then the second of those with two or more, and so on.
            window_of_row = np.concatenate([np.flatnonzero(copies > k) for k in range(copies.max())])
            start, length = whole[window_of_row].T
            anchor = start + length - 1  # a row's own fields (user, time, ...) are its last event's
        else:
            start, length = causal_windows(users, last_target, n).T
            supervised = gather_lists(torch.from_numpy(is_target), start, length, n, offset=1)  # (R, N)
            keep = supervised.any(dim=1).numpy()  # a window whose targets are all someone else's: no row
            start, length, supervised = start[keep], length[keep], supervised[keep]
            anchor = start + length  # the last target
        windows = self._events[anchor]
        lists = self._event_lists(start, length)
        lists[self.item_list_length_field] = torch.from_numpy(length)
        if self.config["bidirectional"]:
            lists[CUT] = torch.arange(len(start)) >= len(whole)  # every copy but the first is cut when read
            lists[WINDOW_START] = torch.from_numpy(start)
        else:
            item_ids = self._events[self.iid_field]
            target_field = target_sequence_field(self.config)
            lists[target_field] = gather_lists(item_ids, start, length, n, offset=1) * supervised
            self.set_field_property(target_field, FeatureType.TOKEN_SEQ, FeatureSource.INTERACTION, n)
        windows.update(Interaction(lists))
        return windows
