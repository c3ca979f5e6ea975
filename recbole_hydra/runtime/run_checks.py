"""Checks on the RecBole settings every run relies on, and on a checkpoint a run resumes from.

RecBole accepts these unchecked and fails late; here each fails before anything is written,
with one line naming the key (or option) and what was expected.
"""

import os

from recbole.utils import ModelType

from recbole_hydra.config_errors import ConfigError, is_int, positive_float, positive_int
from recbole_hydra.runtime.checkpoints import best_checkpoint_of, load_checkpoint
from recbole_hydra.runtime.lr_schedule import check_lr_schedule
from recbole_hydra.runtime.model_names import PLUGIN_MODELS, model_class
from recbole_hydra.runtime.train_scheme import check_train_scheme

SEED_RANGE = 2**32  # numpy's seed must lie in [0, 2**32)
# The sizes of a run's training rows and batches: a plugin model's Config checks them as soon as it is
# built (runtime/patches.py), RecBole's own entry points included; build_config checks them for every other model.
ROW_SIZES = ("train_batch_size", "MAX_ITEM_LIST_LENGTH")


def _metric_result_keys(metrics, topk):
    """The keys RecBole's evaluator will return: 'ndcg@10' for top-k metrics, 'auc' for the rest."""
    from recbole.evaluator.register import metric_information

    keys = []
    for metric in metrics:
        need = metric_information.get(metric.lower(), ())
        if "rec.topk" in need or "rec.items" in need:
            keys += [f"{metric.lower()}@{k}" for k in topk]
        else:
            keys.append(metric.lower())
    return keys


def check_run_config(config):
    """Validate the RecBole keys that train, compare, tune and bench rely on.

    RecBole accepts these unchecked and fails late: epochs=0 crashes after "training" while
    loading a checkpoint that was never written, and a valid_metric the run does not compute
    crashes with a KeyError at the end of the first epoch.
    """
    for key in ("epochs", "eval_batch_size", "stopping_step"):
        positive_int(config, key)
    if config["model"] not in PLUGIN_MODELS:  # ours were checked as their Config was built
        check_row_sizes(config)
        check_lr_schedule(config)
    positive_float(config, "learning_rate")
    if config["train_time_budget"] is not None:  # ours: seconds of training, then stop (training.py)
        positive_float(config, "train_time_budget")
    seed = config["seed"]
    if not is_int(seed) or not 0 <= seed < SEED_RANGE:
        raise ConfigError(f"config key 'seed' must be an integer in [0, 2**32), got {seed!r}")
    topk = config["topk"]
    topk = [topk] if is_int(topk) else topk
    if not isinstance(topk, list) or not topk or not all(is_int(k) and k > 0 for k in topk):
        raise ConfigError(f"config key 'topk' must be a positive integer or a list of them, got {config['topk']!r}")
    for key in ("nproc", "world_size"):
        # RecBole starts its multi-process (DDP) training in recbole.quick_start.run(nproc=N); a Config
        # built here trains in one process, so the key would be silently ignored.
        value = config.final_config_dict.get(key)
        if value is not None and value != 1 and value != -1:
            raise ConfigError(
                f"config key '{key}' is {value!r}: run_hydrarec.py trains every run in one process, not with "
                "RecBole's multi-process DDP (docs/cluster.md says what is known of DDP with HydraRec)"
            )
    _check_exclude_seen(config)
    computed = _metric_result_keys(config["metrics"], topk)
    valid_metric = config["valid_metric"]
    if not isinstance(valid_metric, str) or valid_metric.lower() not in computed:
        raise ConfigError(
            f"config key 'valid_metric' must be one of the metrics this run computes (from 'metrics' and "
            f"'topk'): {', '.join(computed)}; got {valid_metric!r}"
        )


def check_row_sizes(config):
    """ROW_SIZES: positive integers."""
    for key in ROW_SIZES:
        positive_int(config, key)


def _check_exclude_seen(config):
    """Ours (seen_items.py): a boolean, for sequential models ranking all items, rows built from events."""
    value = config["exclude_seen"]
    if value is None or value is False:
        return
    if value is not True:
        raise ConfigError(f"config key 'exclude_seen' must be True or False, got {value!r}")
    if config["MODEL_TYPE"] != ModelType.SEQUENTIAL:
        raise ConfigError(
            f"config key 'exclude_seen' applies to sequential models; {config['model']} is a "
            f"{config['MODEL_TYPE'].name.lower()} model, whose ranking RecBole already limits to unseen items"
        )
    modes = (config["eval_args"] or {}).get("mode")
    modes = modes if isinstance(modes, dict) else {"valid": modes, "test": modes}
    if any(mode != "full" for mode in modes.values()):
        raise ConfigError(
            f"config key 'exclude_seen' needs full ranking (eval_args mode 'full'), got mode {modes!r}: "
            "sampled candidates are already items the user has not seen"
        )
    if config["benchmark_filename"]:
        raise ConfigError(
            "config key 'exclude_seen' needs the events in time order to know what each user saw before a target, "
            f"but 'benchmark_filename' {config['benchmark_filename']!r} gives ready-made rows"
        )


# Settings that change how a model is computed, not what: a run may resume with other values.
_HOW_NOT_WHAT = ("compile", "loss_max_logits")


class ResolvedSettings(dict):
    """A run's resolved settings read back from a file (compare's configs/<run>.resolved.yaml), read
    as a Config reads them: a key the file lacks (one added since) is None."""

    def __missing__(self, key):
        return None


def training_settings(config):
    """The settings a resumed run must share with the run that saved it: model, data, and the
    model's keys. Ours are read as the model and its training rows read them, so a key added since
    a checkpoint was saved counts as the value assumed for it (an old HydraRec trained per prefix).
    `config`: a Config, or a run's ResolvedSettings (RecBole's models: only model, data and N)."""
    settings = {key: config[key] for key in ("model", "dataset", "MAX_ITEM_LIST_LENGTH")}
    if config["model"] in PLUGIN_MODELS:
        settings.update(model_class(config["model"]).check_config(config))
        settings["train_batch_size"] = config["train_batch_size"]
        settings.update(check_train_scheme(config))
    elif not isinstance(config, ResolvedSettings):  # a saved file does not say which keys are the model's
        settings.update({key: config[key] for key in config.parameters.get("Model", [])})
    return {key: value for key, value in settings.items() if key not in _HOW_NOT_WHAT}


def check_resume_checkpoint(path, config):
    """The checkpoint `--resume` names must exist, be RecBole's, and match this run's model and data.

    RecBole would otherwise fail inside load_state_dict with a tensor-size traceback, or silently
    continue a different model. Returns the loaded checkpoint, for the run to resume from
    without reading the file again.
    """
    if not os.path.isfile(path):
        raise ConfigError(f"option --resume: checkpoint {path} not found")
    try:
        state = load_checkpoint(path)
    except Exception as error:  # a truncated or foreign file: torch raises many kinds
        raise ConfigError(
            f"option --resume: {path} is not a readable checkpoint ({type(error).__name__}: {error})"
        ) from None
    if not isinstance(state, dict) or not {"config", "epoch", "state_dict"} <= set(state):
        raise ConfigError(f"option --resume: {path} is not a RecBole checkpoint (expected the file a run saved)")
    try:
        saved = training_settings(state["config"])
    except ConfigError as error:
        raise ConfigError(f"option --resume: {path} holds settings this version cannot read ({error})") from None
    now = training_settings(config)
    for key in now:
        if saved.get(key) != now[key]:
            raise ConfigError(
                f"option --resume: {path} was trained with {key}={saved.get(key)!r} but this run has "
                f"{key}={now[key]!r}; expected the settings of the run that saved it"
            )
    best = best_checkpoint_of(path)
    if best is not None and not os.path.isfile(best):
        raise ConfigError(
            f"option --resume: {path} holds the last epoch, but its best-model checkpoint {best} "
            "is missing; expected both files side by side (or resume from the best one)"
        )
    if state["epoch"] + 1 >= config["epochs"]:
        raise ConfigError(
            f"option --resume: {path} already finished epoch {state['epoch']} of epochs="
            f"{config['epochs']}; expected a larger --epochs=N to train further"
        )
    return state
