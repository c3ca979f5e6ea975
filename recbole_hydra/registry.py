"""Everything that ties recbole-hydra to RecBole 1.2.x internals. Touch this file when RecBole changes.

`install()` (run once by `import recbole_hydra`) does three things, and undoes a fourth (4.):

1. Model lookup. RecBole's `get_model(name)` imports `recbole.model.<kind>_recommender.<name.lower()>`.
   We publish our model module under the sequential name, so every RecBole entry point
   (`run_recbole`, `Config`, `load_data_and_model`, Ray Tune workers) finds `HydraRec`.
   A plugin model may never shadow a built-in: if RecBole ever ships a model with our name we
   refuse to load instead of silently replacing it.
2. Defaults. RecBole reads a model's yaml only from its own package folder. We extend
   `Config._load_internal_config_dict` so that, for our models only, `properties/<Model>.yaml`
   is layered on top of RecBole's defaults (and under the user's own settings), and the keys
   that depend on the mode (the mask transform, CE's "no negative sampling") are filled in.
3. Checkpoints. torch >= 2.6 loads with `weights_only=True`; RecBole 1.2.1 checkpoints pickle
   the whole `Config` with protocol 4, which the weights-only unpickler cannot read (no
   allow-list helps). We wrap RecBole's three load sites so that each fully unpickles the one
   file its caller named, and nothing else: every other `torch.load` keeps torch's default.
   Saving is made atomic (a kill mid-write keeps the previous checkpoint), and resuming from a
   last-epoch checkpoint (`X-last.pth`) keeps saving the best model to its own file `X.pth`.
4. Anomaly mode. Importing RecBole's sequential models switches on torch's anomaly detection
   for the whole process (a debugging aid that slows every backward pass); we switch it back.
"""

import contextlib
import functools
import importlib.util
import os
import re
import sys

import yaml
from recbole.config import Config

PLUGIN_MODELS = ("HydraRec",)
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
# A wheel carries properties/ inside the package; a checkout (or editable install) beside it.
PROPERTIES_DIR = next(
    (path for path in (os.path.join(_PACKAGE_DIR, "properties"), os.path.join(_PACKAGE_DIR, os.pardir, "properties"))
     if os.path.isdir(path)),
    os.path.join(_PACKAGE_DIR, os.pardir, "properties"),
)
_RECBOLE_SEQUENTIAL = "recbole.model.sequential_recommender"


class PluginNameClash(RuntimeError):
    """RecBole already has a model with a plugin model's name."""


def model_yaml(model_name):
    """Path of a plugin model's defaults file."""
    return os.path.join(PROPERTIES_DIR, f"{model_name}.yaml")


class _YamlLoader(yaml.SafeLoader):
    """Safe loading, plus RecBole's reading of `1e-12` as a float (YAML 1.1 wants `1.0e-12`)."""


_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_yaml(path):
    """A yaml mapping from `path` (empty file: {}); never executes tags."""
    with open(path, encoding="utf-8") as f:
        data = yaml.load(f, Loader=_YamlLoader)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of key: value, got {type(data).__name__}")
    return data


# ----- 1. model lookup ------------------------------------------------------------------


def _register_models():
    from recbole_hydra import model as model_module

    for name in PLUGIN_MODELS:
        alias = f"{_RECBOLE_SEQUENTIAL}.{name.lower()}"
        if sys.modules.get(alias) is model_module:
            continue
        if alias in sys.modules or importlib.util.find_spec(alias) is not None:
            raise PluginNameClash(
                f"RecBole already ships a model module '{alias}'; recbole-hydra will not shadow "
                f"RecBole's '{name}'. Rename the plugin model or pin an older RecBole."
            )
        sys.modules[alias] = model_module


# ----- 2. defaults and mode-dependent keys ----------------------------------------------


def mode_dependent_defaults(model_name, settings):
    """Keys whose defaults depend on other keys; `settings` holds every key set so far."""
    defaults = {}
    if model_name in PLUGIN_MODELS:
        bidirectional = settings.get("bidirectional") is True
        defaults["transform"] = "mask_itemseq" if bidirectional else None
    if settings.get("loss_type") == "CE":
        # RecBole refuses CE with negative sampling but defaults to sampling one negative.
        defaults["train_neg_sample_args"] = None
    return defaults


_original_load_internal = Config._load_internal_config_dict


def _load_internal_config_dict(self, model, model_class, dataset):
    _original_load_internal(self, model, model_class, dataset)
    if model not in PLUGIN_MODELS:
        return
    ours = load_yaml(model_yaml(model))
    self.internal_config_dict.update(ours)
    self.parameters.setdefault("Model", [])
    self.parameters["Model"] += [key for key in ours if key not in self.parameters["Model"]]
    apply_mode_dependent_defaults(self, model)


def apply_mode_dependent_defaults(config, model):
    """Fill `config.internal_config_dict` with the defaults that follow from the merged settings."""
    settings = {**config.internal_config_dict, **config.external_config_dict}
    config.internal_config_dict.update(mode_dependent_defaults(model, settings))


# ----- 3. checkpoints -------------------------------------------------------------------


@contextlib.contextmanager
def trusted_checkpoint(path):
    """Within the block, `torch.load(path)` of this one file unpickles fully; all else is unchanged.

    RecBole 1.2.1 checkpoints pickle the whole Config (classes, enums, numpy scalars) with
    pickle protocol 4, which torch's weights-only unpickler cannot read at all. The caller names
    the file, as RecBole's API already makes them do: the trainer's own fresh checkpoint, a file
    passed to `resume_checkpoint`, `evaluate(model_file=...)` or `load_data_and_model`.
    """
    import torch

    trusted = os.path.realpath(path)
    original_load = torch.load

    def load(f, *args, **kwargs):
        if isinstance(f, (str, os.PathLike)) and os.path.realpath(f) == trusted:
            kwargs.setdefault("weights_only", False)
        return original_load(f, *args, **kwargs)

    torch.load = load
    try:
        yield
    finally:
        torch.load = original_load


def load_checkpoint(path, map_location="cpu"):
    """Load a RecBole checkpoint file that the caller trusts (it runs pickled code)."""
    import torch

    return torch.load(path, map_location=map_location, weights_only=False)


LAST_SUFFIX = "-last.pth"


def last_checkpoint_path(best_path):
    """Where a run keeps its last finished epoch, beside its best model: X.pth → X-last.pth."""
    root, _ = os.path.splitext(str(best_path))
    return root + LAST_SUFFIX


def best_checkpoint_of(path):
    """The best-model file that belongs to a last-epoch checkpoint, or None for any other file."""
    path = str(path)
    return path[: -len(LAST_SUFFIX)] + ".pth" if path.endswith(LAST_SUFFIX) else None


def _fsync(path):
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _patch_checkpoint_saving():
    from recbole.trainer import Trainer
    from recbole.utils import set_color

    original_save = Trainer._save_checkpoint

    @functools.wraps(original_save)
    def _save_checkpoint(self, epoch, verbose=True, **kwargs):
        # RecBole's torch.save writes over the old checkpoint in place, so Ctrl-C or a kill
        # mid-write leaves a truncated file where the last good one was. Write a temporary file
        # beside it and rename: os.replace is atomic, the old file stays whole until then.
        path = kwargs.pop("saved_model_file", self.saved_model_file)
        temporary = f"{path}.tmp-{os.getpid()}"
        try:
            original_save(self, epoch, verbose=False, saved_model_file=temporary, **kwargs)
            if not os.path.exists(temporary):
                return  # RecBole saves only on rank 0 of a distributed run
            _fsync(temporary)
            os.replace(temporary, path)
        finally:
            if os.path.exists(temporary):
                os.remove(temporary)
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
            return original_load_data_and_model(model_file)

    Trainer.evaluate = evaluate
    Trainer.resume_checkpoint = resume_checkpoint
    quick_start.load_data_and_model = load_data_and_model
    recbole.quick_start.load_data_and_model = load_data_and_model


# ----- 4. torch's anomaly mode ----------------------------------------------------------

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


_installed = False


def install():
    """Idempotent: wire recbole-hydra into RecBole."""
    global _installed
    if _installed:
        return
    _keep_torch_anomaly_mode()
    _register_models()
    Config._load_internal_config_dict = _load_internal_config_dict
    _patch_checkpoint_loading()
    _patch_checkpoint_saving()
    _installed = True
