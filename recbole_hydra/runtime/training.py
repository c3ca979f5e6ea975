"""One training run through RecBole's own pieces, instrumented for time and memory.

create_dataset → data_preparation → get_model → get_trainer → fit → evaluate, exactly as
RecBole's run_recbole does; we only time the epochs and inference, and count parameters.
Besides RecBole's best-model checkpoint, a run keeps its last evaluated epoch in
`<checkpoint>-last.pth` until it finishes, so that resuming after an interruption loses no epoch,
and its record so far (seconds and validation score per epoch, and the random state after the
last epoch) in `<checkpoint>-last.json`, so that a resumed run reports its whole history (best
epoch, epochs run, seconds per epoch) and draws the same random numbers as an uninterrupted run.
"""

import json
import os
import resource
import sys
import time
from dataclasses import dataclass, field
from logging import getLogger

import torch
from recbole.data import create_dataset, data_preparation
from recbole.utils import get_model, get_trainer, init_logger, init_seed

from recbole_hydra.files import write_atomic
from recbole_hydra.runtime import rng
from recbole_hydra.runtime.checkpoints import (
    best_checkpoint_of,
    claim_checkpoint_path,
    drop_if_empty,
    history_path,
    last_checkpoint_path,
    trusted_checkpoint,
)
from recbole_hydra.runtime.memory import return_freed_heap
from recbole_hydra.runtime.seen_items import excluding_seen, ranking_name, seen_items_ranked


@dataclass
class RunResult:
    model: str
    dataset: str
    seed: int
    best_valid_score: float
    valid_result: dict
    test_result: dict
    best_epoch: int
    epochs_run: int
    train_seconds_per_epoch: float
    inference_seconds: float
    peak_memory_mb: float
    peak_memory_kind: str
    parameters: int
    checkpoint: str
    valid_scores: list = field(default_factory=list)
    budget_capped: bool = False  # stopped by train_time_budget, not by early stopping or the last epoch
    stopped_by: str = ""  # what ended training: "early stopping", "epoch cap" or "time budget" (STOPPED_BY)
    ranking: str = "all items"  # the test's candidates: "all items", or "unseen items" with exclude_seen
    test_result_all_items: dict = field(default_factory=dict)  # with exclude_seen: the same model, all items ranked


# What ended a run's training, as its rows and tables say it: a run that reached `epochs` or
# `train_time_budget` is capped, and its accuracy is what the cap allowed, not a finished run's.
STOPPED_BY = ("early stopping", "epoch cap", "time budget")


def stopped_by(early_stopped, budget_spent):
    """One of STOPPED_BY. Early stopping wins where it fired at the epoch the budget ran out."""
    if early_stopped:
        return "early stopping"
    return "time budget" if budget_spent else "epoch cap"


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run; `checkpoint` is the file to pass to --resume (None: nothing saved yet)."""

    def __init__(self, checkpoint, epoch):
        super().__init__(checkpoint)
        self.checkpoint, self.epoch = checkpoint, epoch


def peak_memory_mb(device):
    """(MB, kind): CUDA allocator peak on GPU, else this process's peak resident set size."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda_max_allocated"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return rss / (2**20 if sys.platform == "darwin" else 2**10), "process_peak_rss"


def _instrument(trainer, epoch_seconds, valid_scores):
    """Record each training epoch's time and each (epoch, validation score) on the trainer, and
    return the heap they freed to the OS after each (runtime/memory.py: else RSS grows each epoch)."""
    train_epoch, valid_epoch = trainer._train_epoch, trainer._valid_epoch
    last_epoch = [-1]

    def timed_train_epoch(train_data, epoch_idx, *args, **kwargs):
        start = time.perf_counter()
        loss = train_epoch(train_data, epoch_idx, *args, **kwargs)
        epoch_seconds.append((epoch_idx, time.perf_counter() - start))
        last_epoch[0] = epoch_idx
        return_freed_heap()
        return loss

    def recorded_valid_epoch(*args, **kwargs):
        score, result = valid_epoch(*args, **kwargs)
        valid_scores.append((last_epoch[0], float(score)))
        return_freed_heap()
        return score, result

    trainer._train_epoch = timed_train_epoch
    trainer._valid_epoch = recorded_valid_epoch


def make_model(config, dataset):
    """A fresh model of `config`'s class on `dataset`, as RecBole's run_recbole builds it."""
    return get_model(config["model"])(config, dataset)


def prepare(config):
    """Seeded dataset, dataloaders and model for `config`, as RecBole builds them."""
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    logger = getLogger()
    logger.info(config)
    dataset = create_dataset(config)
    logger.info(dataset)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model = make_model(config, train_data._dataset).to(config["device"])
    logger.info(model)
    return model, train_data, valid_data, test_data


def make_trainer(config, model):
    """RecBole's trainer for `model`, as RecBole's run_recbole builds it."""
    return get_trainer(config["MODEL_TYPE"], config["model"])(config, model)


class _BudgetSpent(Exception):
    """The run's training time reached `train_time_budget`: stop after this evaluated epoch."""


def _last_epoch_saver(trainer, path, saved_epochs, epoch_seconds, valid_scores, random_states, loaders, budget):
    """fit's callback, run after each evaluation (and after RecBole saved any new best model).

    The record is written before the checkpoint: if a kill falls between the two, the record is
    one epoch ahead, and `_load_history` drops what the checkpoint has not reached. That is why
    it keeps the random state of the epoch before too. Then, with a `budget` (seconds of
    training, evaluation left out, as the tables count it), the run stops once it is spent.
    """

    def save(epoch_idx, valid_score):
        random_states[:] = [*random_states[-1:], (epoch_idx, rng.capture(loaders))]
        record = {"epoch_seconds": epoch_seconds, "valid_scores": valid_scores, "random_states": random_states}
        write_atomic(history_path(path), json.dumps(record))
        trainer._save_checkpoint(epoch_idx, verbose=False, saved_model_file=path)
        saved_epochs.append(epoch_idx)
        if budget and sum(seconds for _, seconds in epoch_seconds) >= budget:
            getLogger().info(f"train_time_budget of {budget:g} s spent after epoch {epoch_idx}: training stops")
            raise _BudgetSpent

    return save


def _load_history(resume_file, next_epoch):
    """([(epoch, seconds)], [(epoch, score)], [(epoch, random state)]) up to a last-epoch checkpoint.

    All empty for a best-model file or a checkpoint from before records were kept.
    """
    path = history_path(resume_file)
    if best_checkpoint_of(resume_file) is None or not os.path.isfile(path):
        return [], [], []
    with open(path, encoding="utf-8") as f:
        record = json.load(f)
    return tuple(
        [tuple(pair) for pair in record.get(key, []) if pair[0] < next_epoch]
        for key in ("epoch_seconds", "valid_scores", "random_states")
    )


def _restore_random_state(random_states, epoch, loaders, resume_file):
    """Continue the random numbers where the interrupted run left them after `epoch`."""
    state = dict(random_states).get(epoch)
    logger = getLogger()
    if state is None:
        logger.warning(
            f"{resume_file} holds no random state for epoch {epoch} (a best-model file, or saved "
            "by an older version): the resumed run draws fresh random numbers, so its results "
            "will differ from those of an uninterrupted run"
        )
        return
    skipped = rng.restore(state, loaders)
    if skipped:
        logger.warning(
            f"{resume_file}: random state not restored for {', '.join(skipped)}; the resumed run "
            "may differ from an uninterrupted one"
        )


def best_epoch_of(valid_scores, bigger=True):
    """The epoch whose model RecBole kept: the last one to reach the best score, or -1.

    RecBole's early stopping counts a tie with the best (scores are rounded to 4 decimals, so
    ties are common) as an improvement and saves that later model; the test metrics are its.
    """
    sign = 1 if bigger else -1
    return max(valid_scores, key=lambda pair: (sign * pair[1], pair[0]), default=(-1, None))[0]


def _resumable(trainer, last_file, saved_epochs):
    """(checkpoint, epoch) that --resume should take after an interruption, or (None, None)."""
    if last_file and os.path.isfile(last_file):
        return last_file, saved_epochs[-1] if saved_epochs else None
    if os.path.isfile(trainer.saved_model_file) and os.path.getsize(trainer.saved_model_file) > 0:
        # best model only: runs without validation
        return trainer.saved_model_file, None
    return None, None


def train_and_test(config, resume_file=None, saved=True, init_model=None, checkpoint_file=None, resume_state=None):
    """Train with early stopping on the validation metric, then test the best model.

    `resume_file`: a checkpoint to go on from; `resume_state`, its content if the caller has
    already loaded it (run_checks.check_resume_checkpoint does), so it is not read twice.
    `init_model(model, dataset)`, if given, is called on the fresh model before training, e.g.
    to start from a trained model's weights (`online/fine_tune.py`).
    `checkpoint_file`: the best-model file to write (default: RecBole's name, made unique).
    Ctrl-C raises TrainingInterrupted naming the checkpoint to resume from.
    """
    model, train_data, valid_data, test_data = prepare(config)
    if init_model is not None:
        init_model(model, train_data._dataset)
    trainer = make_trainer(config, model)
    if checkpoint_file:
        os.makedirs(os.path.dirname(os.path.abspath(checkpoint_file)), exist_ok=True)
        trainer.saved_model_file = checkpoint_file
    elif saved:
        trainer.saved_model_file = claim_checkpoint_path(trainer.saved_model_file)
    claimed = trainer.saved_model_file
    epoch_seconds, valid_scores, random_states, saved_epochs = [], [], [], []
    if resume_file:
        with trusted_checkpoint(resume_file, loaded=resume_state):
            trainer.resume_checkpoint(resume_file)  # may point saved_model_file back at the run's best file
        epoch_seconds, valid_scores, random_states = map(list, _load_history(resume_file, trainer.start_epoch))
    if trainer.saved_model_file != claimed:
        drop_if_empty(claimed)
    _instrument(trainer, epoch_seconds, valid_scores)
    device = torch.device(config["device"])
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    last_file = last_checkpoint_path(trainer.saved_model_file) if saved else None
    if resume_file and last_file and os.path.abspath(resume_file) == os.path.abspath(last_file):
        saved_epochs.append(trainer.start_epoch - 1)  # an interrupt before the next save names this epoch
    loaders = (train_data, valid_data, test_data)
    if resume_file:  # last, so that nothing draws from the generators between here and training
        _restore_random_state(random_states, trainer.start_epoch - 1, loaders, resume_file)
    budget_capped = False
    try:
        try:
            best_valid_score, valid_result = trainer.fit(
                train_data,
                valid_data,
                saved=saved,
                show_progress=config["show_progress"],
                callback_fn=_last_epoch_saver(
                    trainer,
                    last_file,
                    saved_epochs,
                    epoch_seconds,
                    valid_scores,
                    random_states,
                    loaders,
                    config["train_time_budget"],
                )
                if saved
                else None,
            )
        except _BudgetSpent:
            best_valid_score, valid_result, budget_capped = trainer.best_valid_score, trainer.best_valid_result, True
        start = time.perf_counter()
        test_result = trainer.evaluate(test_data, load_best_model=saved, show_progress=config["show_progress"])
        inference_seconds = time.perf_counter() - start
        test_result_all_items = {}
        if excluding_seen(config):  # the same best model under RecBole's protocol too, for the tables
            with seen_items_ranked(config):
                test_result_all_items = dict(trainer.evaluate(test_data, load_best_model=False))
    except KeyboardInterrupt:
        raise TrainingInterrupted(*_resumable(trainer, last_file, saved_epochs)) from None
    finally:
        drop_if_empty(trainer.saved_model_file if saved else None)  # claimed, never saved into
    for path in (last_file, last_file and history_path(last_file)):
        if path and os.path.exists(path):
            os.remove(path)  # finished: the best-model checkpoint is the run's result
    memory, memory_kind = peak_memory_mb(device)

    best_epoch = best_epoch_of(valid_scores, config["valid_metric_bigger"])
    ended = stopped_by(trainer.cur_step > trainer.stopping_step, budget_capped)
    return RunResult(
        model=config["model"],
        dataset=config["dataset"],
        seed=config["seed"],
        best_valid_score=float(best_valid_score),
        valid_result=dict(valid_result or {}),
        test_result=dict(test_result),
        best_epoch=best_epoch,
        epochs_run=len(epoch_seconds),
        train_seconds_per_epoch=sum(seconds for _, seconds in epoch_seconds) / max(len(epoch_seconds), 1),
        inference_seconds=inference_seconds,
        peak_memory_mb=memory,
        peak_memory_kind=memory_kind,
        parameters=sum(p.numel() for p in model.parameters()),
        checkpoint=trainer.saved_model_file if saved else "",
        valid_scores=[score for _, score in valid_scores],
        budget_capped=ended == "time budget",
        stopped_by=ended,
        ranking=ranking_name(config),
        test_result_all_items=test_result_all_items,
    )
