"""Training batches of windows counted in events, not in windows (`train_batch_events`).

Under the sequence scheme a training row is a window of up to N events. RecBole batches rows by
count (`train_batch_size`), so what a batch holds follows the data: 32 windows are about 3,600
events on ml-1m at N = 200 but about 200 on a sparse set with 6 events a user, whose batches are
then 18× smaller and noisier, and mostly padding. With `train_batch_events: E` a batch holds
windows of similar length adding up to about E events, as machine translation batches sentences
by tokens (fairseq's max_tokens):

    each epoch the windows are shuffled and taken in pools of about POOL_BATCHES batches' worth;
    each pool is sorted by length and cut into batches of about E events (a window longer than E
    is a batch alone); then the batches are shuffled.

HydraRec cuts each batch after its longest window (model.hydrarec.trim_padding), so almost no work
goes to padding. Every draw comes from the loader's own generator, so a resumed run replays the
same batches (rng.py saves that generator with each epoch).
"""

import numpy as np
import torch
from recbole.data.dataloader.general_dataloader import TrainDataLoader

POOL_BATCHES = 50  # sorting within pools of 50 batches keeps batches random but their lengths alike


def cut_by_events(lengths, events):
    """Split positions 0..len(lengths)-1, in order, into runs of about `events` events: [np.ndarray]."""
    batches, start, total = [], 0, 0
    for position, length in enumerate(lengths.tolist()):
        if total and total + length > events:
            batches.append(np.arange(start, position))
            start, total = position, 0
        total += length
    if start < len(lengths):
        batches.append(np.arange(start, len(lengths)))
    return batches


def plan_batches(lengths, events, generator=None, pool_batches=POOL_BATCHES):
    """One epoch's batches of row indices: [np.ndarray], every row once (see the module docstring).

    lengths: (W,) events per window; without a `generator` the rows keep their order, unsorted.
    """
    lengths = torch.as_tensor(lengths)
    if generator is None:
        return cut_by_events(lengths.numpy(), events)
    order = torch.randperm(len(lengths), generator=generator).numpy()
    pools = cut_by_events(lengths[order].numpy(), events * pool_batches)
    batches = []
    for pool in pools:
        rows = order[pool]
        rows = rows[np.argsort(-lengths[rows].numpy(), kind="stable")]  # longest first
        batches += [rows[part] for part in cut_by_events(lengths[rows].numpy(), events)]
    shuffled = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in shuffled]


class WindowBatchLoader(TrainDataLoader):
    """RecBole's training loader, its batches planned by `plan_batches` instead of by count.

    The plan of an epoch is drawn when the epoch first asks for it (its length or its batches), so
    a resumed run, whose loader generator is restored before training, draws the same plan.
    """

    def __init__(self, config, dataset, sampler, shuffle=False):
        super().__init__(config, dataset, sampler, shuffle=shuffle)
        self._lengths = dataset.inter_feat[dataset.item_list_length_field]  # (W,) events per window
        self._events = config["train_batch_events"]
        self._plan = None

    def _current_plan(self):
        if self._plan is None:
            self._plan = plan_batches(self._lengths, self._events, self.generator if self.shuffle else None)
        return self._plan

    def __len__(self):
        return len(self._current_plan())

    def __iter__(self):
        plan, self._plan = self._current_plan(), None  # the next epoch draws its own
        for rows in plan:
            yield self.collate_fn(rows)


def uses_window_batches(config):
    """Whether a run's training batches are planned by events: HydraRec's sequence scheme with the key set."""
    return bool(config["train_batch_events"]) and config["train_scheme"] == "sequence"
