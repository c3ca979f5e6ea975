"""Fine-tuning a trained causal HydraRec on new data, whose catalogue may hold new items.

RecBole builds the new dataset from the new atomic files (remapping every token to a new id), a
fresh HydraRec is built on it, `catalogue.carry_over` copies the trained weights in by token,
and RecBole's trainer fine-tunes it as `run_hydrarec.py train` would.
"""

from recbole_hydra.files import load_yaml
from recbole_hydra.online.catalogue import carry_over
from recbole_hydra.runtime.config import build_config
from recbole_hydra.runtime.datasets import check_dataset
from recbole_hydra.runtime.defaults import model_yaml
from recbole_hydra.runtime.training import train_and_test


def fine_tune(old_model, old_dataset, config, init="mean", saved=True):
    """Fine-tune a trained causal HydraRec on new data through RecBole; returns training.RunResult.

    `config` describes the new data (build it with `fine_tune_config`): RecBole builds the
    dataset, splits and model from it as usual, the trained weights are carried over by token
    (`carry_over`), then RecBole's trainer trains and tests as in `run_hydrarec.py train`. The new
    data is checked first, as every run's is.
    """
    check_dataset(config)

    def start_from_trained(model, dataset):
        carry_over(old_model, old_dataset, model, dataset, init)

    return train_and_test(config, saved=saved, init_model=start_from_trained)


def fine_tune_config(old_config, dataset, config_files=(), overrides=None):
    """A config for `dataset` with the trained model's architecture, plus `overrides` (e.g. epochs).

    The architecture keys (those of properties/HydraRec.yaml and MAX_ITEM_LIST_LENGTH) come from
    `old_config`, the checkpoint's RecBole Config, so that `carry_over` finds matching shapes.
    """
    keys = list(load_yaml(model_yaml("HydraRec"))) + ["MAX_ITEM_LIST_LENGTH"]
    architecture = {key: old_config[key] for key in keys if old_config[key] is not None}
    return build_config("HydraRec", dataset, config_files, {**architecture, **(overrides or {})})
