"""Every change recbole-hydra makes to RecBole 1.2.x at run time, in one file. Touch it when RecBole changes.

`install()` (run once by `import recbole_hydra`) does seven things, and undoes an eighth (5.):

1. Model lookup. RecBole's `get_model(name)` imports `recbole.model.<kind>_recommender.<name.lower()>`.
   We publish our model module under the sequential name, so every RecBole entry point
   (`run_recbole`, `Config`, `load_data_and_model`, Ray Tune workers) finds `HydraRec`; and
   `create_dataset` finds `recbole.data.dataset.HydraRecDataset` (its training scheme).
   A plugin model may never shadow a built-in: if RecBole ever ships a model with our name we
   refuse to load instead of silently replacing it.
2. Defaults. RecBole reads a model's yaml only from its own package folder. We extend
   `Config._load_internal_config_dict` so that, for our models only, `properties/<Model>.yaml`
   is layered on top of RecBole's defaults (and under the user's own settings), and the keys
   that depend on the mode (the mask transform, CE's "no negative sampling") are filled in.
3. Early checks. A Config for one of our models checks every key of its yaml as soon as it is
   built (the model's own, the sizes its rows take, its training scheme's), so a bad value stops
   the run with one line naming the key before RecBole reads any data.
4. Checkpoints. torch >= 2.6 loads with `weights_only=True`; RecBole 1.2.1 checkpoints pickle
   the whole `Config` with protocol 4, which the weights-only unpickler cannot read (no
   allow-list helps). We wrap RecBole's three load sites so that each fully unpickles the one
   file its caller named, and nothing else: every other `torch.load` keeps torch's default.
   Saving is made atomic (a kill mid-write keeps the previous checkpoint), and resuming from a
   last-epoch checkpoint (`X-last.pth`) keeps saving the best model to its own file `X.pth`.
   Checkpoints written by earlier layouts of this package still unpickle.
5. Anomaly mode. Importing RecBole's sequential models switches on torch's anomaly detection
   for the whole process (a debugging aid that slows every backward pass); we switch it back.
6. Seen items. With our key `exclude_seen: True`, a sequential dataset's rows keep their target
   event and the full-ranking loader masks every item the user had before it (seen_items.py);
   without the key RecBole's code runs unchanged.
7. Batches by events. With HydraRec's `train_batch_events` (sequence scheme), RecBole's
   `get_dataloader` hands out our training loader (window_batches.py) instead of its own.
8. Learning-rate schedule. With `lr_warmup_steps` or `lr_decay` (lr_schedule.py; any model),
   RecBole's Trainer sets each step's rate from the schedule; without them it runs unchanged.
"""

import functools
import importlib
import importlib.util
import sys
import warnings

from recbole.config import Config

from recbole_hydra.config_errors import ConfigError
from recbole_hydra.files import load_yaml, replaced_atomically
from recbole_hydra.runtime import lr_schedule
from recbole_hydra.runtime.checkpoints import best_checkpoint_of, register_legacy_modules, trusted_checkpoint
from recbole_hydra.runtime.defaults import (
    SEQUENCE_SCHEME_KEYS,
    apply_mode_dependent_defaults,
    model_yaml,
    training_defaults,
)
from recbole_hydra.runtime.model_names import PLUGIN_MODELS
from recbole_hydra.runtime.run_checks import check_row_sizes
from recbole_hydra.runtime.seen_items import SeenHistory, excluding_seen, keep_target_events, seen_index
from recbole_hydra.runtime.train_scheme import check_train_scheme

_RECBOLE_SEQUENTIAL = "recbole.model.sequential_recommender"


class PluginNameClash(RuntimeError):
    """RecBole already has a model with a plugin model's name."""


def hide_recbole_warnings():
    """Hide the FutureWarnings RecBole 1.2.1 raises on today's pandas: noise we cannot fix here.

    For the processes we start (compare's runs, tune's trials, bench's cells) and our commands.
    """
    warnings.filterwarnings("ignore", category=FutureWarning)


# ----- 1. model lookup ------------------------------------------------------------------


def _register_models():
    _register_dataset()
    for name, module_name in PLUGIN_MODELS.items():
        model_module = importlib.import_module(module_name)
        alias = f"{_RECBOLE_SEQUENTIAL}.{name.lower()}"
        if sys.modules.get(alias) is model_module:
            continue
        if alias in sys.modules or importlib.util.find_spec(alias) is not None:
            raise PluginNameClash(
                f"RecBole already ships a model module '{alias}'; recbole-hydra will not shadow "
                f"RecBole's '{name}'. Rename the plugin model or pin an older RecBole."
            )
        sys.modules[alias] = model_module


def _register_dataset():
    """RecBole's create_dataset builds `recbole.data.dataset.<model>Dataset` when there is one."""
    import recbole.data.dataset as datasets

    from recbole_hydra.runtime.train_scheme import HydraRecDataset

    existing = getattr(datasets, HydraRecDataset.__name__, None)
    if existing is not None and existing is not HydraRecDataset:
        raise PluginNameClash(
            f"RecBole already ships a dataset class '{HydraRecDataset.__name__}'; recbole-hydra will not replace it"
        )
    datasets.HydraRecDataset = HydraRecDataset


# ----- 2. defaults and 3. early checks ---------------------------------------------------

_original_load_internal = Config._load_internal_config_dict
_original_config_init = Config.__init__


def _load_internal_config_dict(self, model, model_class, dataset):
    _original_load_internal(self, model, model_class, dataset)
    ours = model in PLUGIN_MODELS
    recbole_defaults = {
        key: self.internal_config_dict[key] for key in SEQUENCE_SCHEME_KEYS if key in self.internal_config_dict
    }
    if ours:
        defaults = load_yaml(model_yaml(model))
        self.internal_config_dict.update(defaults)
        self.parameters.setdefault("Model", [])
        self.parameters["Model"] += [key for key in defaults if key not in self.parameters["Model"]]
    # Our own Config (runtime/config.py) fills them for RecBole's models too.
    if ours or getattr(self, "MODE_DEFAULTS_FOR_EVERY_MODEL", False):
        training = training_defaults()
        self.internal_config_dict.update(training)
        self.parameters["Training"] += [key for key in training if key not in self.parameters["Training"]]
        apply_mode_dependent_defaults(self, model, recbole_defaults)


@functools.wraps(_original_config_init)
def _config_init(self, *args, **kwargs):
    _original_config_init(self, *args, **kwargs)
    if self["model"] in PLUGIN_MODELS:
        self.model_class.check_config(self)  # the model's own keys
        check_row_sizes(self)
        check_train_scheme(self)
        lr_schedule.check_lr_schedule(self)


# ----- 4. checkpoints -------------------------------------------------------------------


def _patch_checkpoint_saving():
    from recbole.trainer import Trainer
    from recbole.utils import set_color

    original_save = Trainer._save_checkpoint

    @functools.wraps(original_save)
    def _save_checkpoint(self, epoch, verbose=True, **kwargs):
        # RecBole's torch.save writes over the old checkpoint in place, so Ctrl-C or a kill
        # mid-write would leave a truncated file where the last good one was.
        path = kwargs.pop("saved_model_file", self.saved_model_file)
        with replaced_atomically(path) as temporary:  # RecBole writes nothing off rank 0: path stays
            original_save(self, epoch, verbose=False, saved_model_file=temporary, **kwargs)
        if verbose:
            self.logger.info(set_color("Saving current", "blue") + f": {path}")

    Trainer._save_checkpoint = _save_checkpoint


def _patch_checkpoint_loading():
    import recbole.quick_start
    import recbole.quick_start.quick_start as quick_start
    from recbole.trainer import Trainer

    original_evaluate = Trainer.evaluate
    original_resume = Trainer.resume_checkpoint
    original_load_data_and_model = quick_start.load_data_and_model

    @functools.wraps(original_evaluate)
    def evaluate(self, eval_data, load_best_model=True, model_file=None, show_progress=False):
        if not load_best_model:
            return original_evaluate(self, eval_data, load_best_model, model_file, show_progress)
        with trusted_checkpoint(model_file or self.saved_model_file):
            return original_evaluate(self, eval_data, load_best_model, model_file, show_progress)

    @functools.wraps(original_resume)
    def resume_checkpoint(self, resume_file):
        with trusted_checkpoint(resume_file):
            original_resume(self, resume_file)
        best = best_checkpoint_of(resume_file)
        if best is not None:
            # RecBole would now save (and at the end test) the best model into the resumed file:
            # point it back at the run's best-model file, which still holds the best weights.
            self.saved_model_file = best

    @functools.wraps(original_load_data_and_model)
    def load_data_and_model(model_file):
        with trusted_checkpoint(model_file):
            loaded = original_load_data_and_model(model_file)
        # An unpickled Config never ran its __init__, which puts back the numpy aliases RecBole's
        # metrics use (np.float, ...): in a fresh process, such as a Ray worker, evaluate would fail.
        loaded[0].compatibility_settings()
        return loaded

    Trainer.evaluate = evaluate
    Trainer.resume_checkpoint = resume_checkpoint
    quick_start.load_data_and_model = load_data_and_model
    recbole.quick_start.load_data_and_model = load_data_and_model


# ----- 5. torch's anomaly mode ----------------------------------------------------------

_SETS_ANOMALY_MODE = "recbole.model.sequential_recommender.sine"


def _keep_torch_anomaly_mode():
    """Import RecBole's sequential models without letting them switch on anomaly detection.

    RecBole 1.2.1's sine.py runs `torch.autograd.set_detect_anomaly(True)` at import, and every
    lookup of a sequential model imports it: from then on every backward pass in the process
    checks each gradient for NaN and every op records a stack trace, which slows training of
    every model. Anomaly detection is a debugging switch; keep whatever the process had.
    """
    import torch

    # Already imported by someone else: RecBole has set it, and the process's choice is lost.
    before = False if _SETS_ANOMALY_MODE in sys.modules else torch.is_anomaly_enabled()
    importlib.import_module(_RECBOLE_SEQUENTIAL)
    torch.autograd.set_detect_anomaly(before)


# ----- 6. seen items --------------------------------------------------------------------


def _patch_seen_items():
    from recbole.data.dataloader.general_dataloader import FullSortEvalDataLoader
    from recbole.data.dataset import SequentialDataset

    original_augmentation = SequentialDataset.data_augmentation
    original_collate = FullSortEvalDataLoader.collate_fn

    @functools.wraps(original_augmentation)
    def data_augmentation(self):
        if not excluding_seen(self.config):
            return original_augmentation(self)
        self._check_field("uid_field", "time_field")
        # RecBole's own order: its augmentation sorts the same way again, and the sort is stable.
        self.sort(by=[self.uid_field, self.time_field], ascending=True)
        history = SeenHistory(self.inter_feat[self.uid_field].numpy(), self.inter_feat[self.iid_field].numpy())
        original_augmentation(self)
        keep_target_events(self, self.inter_feat, history)

    @functools.wraps(original_collate)
    def collate_fn(self, index):
        interaction, history_index, positive_u, positive_i = original_collate(self, index)
        if self.is_sequential and excluding_seen(self.config):
            history_index = seen_index(self._dataset, interaction)
            if history_index is None:
                raise RuntimeError(
                    "config key 'exclude_seen' is True, but these evaluation rows do not say which events came "
                    "before their targets (a dataset built without exclude_seen, or from benchmark files)"
                )
        return interaction, history_index, positive_u, positive_i

    SequentialDataset.data_augmentation = data_augmentation
    FullSortEvalDataLoader.collate_fn = collate_fn


# ----- 7. batches by events -------------------------------------------------------------


def _patch_training_loader():
    import recbole.data.utils as data_utils

    from recbole_hydra.runtime.window_batches import WindowBatchLoader, uses_window_batches

    original_get_dataloader = data_utils.get_dataloader

    @functools.wraps(original_get_dataloader)
    def get_dataloader(config, phase):
        if phase == "train" and config["model"] in PLUGIN_MODELS and uses_window_batches(config):
            return WindowBatchLoader
        return original_get_dataloader(config, phase)

    data_utils.get_dataloader = get_dataloader


# ----- 8. learning-rate schedule --------------------------------------------------------


def _patch_lr_schedule():
    from recbole.trainer import Trainer

    original_init = Trainer.__init__
    original_train_epoch = Trainer._train_epoch

    @functools.wraps(original_init)
    def __init__(self, config, model):
        original_init(self, config, model)
        lr_schedule.check_lr_schedule(config)  # again: RecBole's own Config never checked a built-in model's keys
        if lr_schedule.is_scheduled(config) and type(self)._train_epoch is not Trainer._train_epoch:
            # Its epochs would never reach start_epoch: the decay would be silently ignored.
            raise ConfigError(
                f"config keys {' and '.join(lr_schedule.SCHEDULE_KEYS)} work with RecBole's Trainer; "
                f"{type(self).__name__} trains its epochs its own way"
            )
        lr_schedule.attach(self.optimizer, config)

    @functools.wraps(original_train_epoch)
    def _train_epoch(self, train_data, epoch_idx, *args, **kwargs):
        lr_schedule.start_epoch(self.optimizer, epoch_idx)
        return original_train_epoch(self, train_data, epoch_idx, *args, **kwargs)

    Trainer.__init__ = __init__
    Trainer._train_epoch = _train_epoch


_installed = False


def install():
    """Idempotent: wire recbole-hydra into RecBole."""
    global _installed
    if _installed:
        return
    _keep_torch_anomaly_mode()
    _register_models()
    Config._load_internal_config_dict = _load_internal_config_dict
    Config.__init__ = _config_init
    _patch_checkpoint_loading()
    _patch_checkpoint_saving()
    _patch_seen_items()
    _patch_training_loader()
    _patch_lr_schedule()
    register_legacy_modules()
    _installed = True
