"""The model a service answers with: a checkpoint checked to be a causal, recurrent HydraRec, its
version, a fresh set of user states for it, and its cold-start list.

A version names the file and its content: `<file name>#<first 10 hex digits of its sha256>`, so two
trainings saved under one name differ, and every reply says which weights made it.
"""

import hashlib
import os

import numpy as np

from recbole_hydra.model import HydraRec
from recbole_hydra.online.streaming import Recommendations, StreamingRecommender
from recbole_hydra.runtime import inference
from recbole_hydra.serving.baseline import WindowRecommender

RECURRENT = ("hydra", "linrec", "elu")  # the token mixers with a `step`; softmax has none
COLD_START = "most popular items of the model's dataset (score: interaction count)"


class ModelRefused(ValueError):
    """A checkpoint the service will not serve; one line that says why."""


class ServedModel:
    def __init__(self, checkpoint, version, model, dataset, recompute):
        self.checkpoint, self.version = checkpoint, version
        self.model, self.dataset, self.recompute = model, dataset, recompute
        self.item_ids = dataset.field2token_id[dataset.iid_field]  # token → id; 0 is padding
        self._popular = _popularity(dataset, model.n_items)

    def new_states(self):
        """Empty per-user states: the recurrent StreamingRecommender, or the recompute baseline."""
        return (WindowRecommender if self.recompute else StreamingRecommender)(self.model, self.dataset)

    def knows(self, item):
        return bool(self.item_ids.get(item))

    def cold_start(self, k):
        """The answer for a user without events: the k most frequent items of the dataset."""
        ids, counts = self._popular
        tokens = self.dataset.field2id_token[self.dataset.iid_field]
        return Recommendations([str(tokens[i]) for i in ids[:k]], [float(c) for c in counts[:k]])

    def describe(self):
        m = self.model
        kind = "recompute baseline" if self.recompute else ("lifelong" if m.lifelong else "windowed")
        return (
            f"HydraRec attention={m.attention_name} positions={m.positions} ({kind}), hidden_size={m.hidden_size}, "
            f"layers={len(m.layers)}, MAX_ITEM_LIST_LENGTH={m.max_seq_length}, items={m.n_items - 1}"
        )


def _popularity(dataset, n_items):
    """(item ids, interaction counts), most frequent first, padding left out."""
    counts = np.bincount(np.asarray(dataset.inter_feat[dataset.iid_field]), minlength=n_items)  # pandas or torch
    counts[0] = -1
    order = np.argsort(-counts, kind="stable")[: n_items - 1]
    return order.tolist(), counts[order].tolist()


def version_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return f"{os.path.basename(path)}#{digest.hexdigest()[:10]}"


def check_config(config, path, recompute=False):
    """Refuse, before any data is read, what the service cannot stream."""
    name = config["model"]
    if name != "HydraRec":
        raise ModelRefused(f"{path}: a {name} checkpoint; the service serves causal HydraRec checkpoints only")
    if config["bidirectional"]:
        raise ModelRefused(
            f"{path}: a bidirectional HydraRec; every position sees later events, so no per-user state exists "
            "(serve a causal one, bidirectional: False)"
        )
    attention = config["attention"] or "hydra"
    if attention not in RECURRENT and not recompute:
        raise ModelRefused(
            f"{path}: attention '{attention}' has no recurrent state (expected one of {list(RECURRENT)}; "
            "--recompute serves it by re-encoding the last N events, as a benchmark baseline)"
        )


def load(path, recompute=False, data_path=None):
    """A ServedModel from checkpoint `path`; ModelRefused, in one line, for anything else."""
    path = os.fspath(path)
    try:
        state = inference.read_checkpoint(path)
    except (FileNotFoundError, ValueError) as error:
        raise ModelRefused(str(error)) from None
    check_config(state["config"], path, recompute)
    try:
        model, dataset = inference.build_model(state, data_path)
    except Exception as error:  # the dataset missing where the config says, weights of another shape
        first = str(error).strip().splitlines()
        reason = f"{type(error).__name__}: {first[0] if first else ''}"
        raise ModelRefused(f"{path}: cannot build its model ({reason})") from None
    if not isinstance(model, HydraRec):
        raise ModelRefused(f"{path}: builds a {type(model).__module__}.{type(model).__name__}, not recbole_hydra's")
    return ServedModel(path, version_of(path), model, dataset, recompute)
