"""A trained model and its dataset from a RecBole checkpoint, for scoring without training: what a
service needs of RecBole, and an untrained checkpoint of the right shape for latency benchmarks.

Unlike RecBole's `load_data_and_model`, this builds only the dataset (its token maps and
interactions), not the train/valid/test dataloaders, which on ml-1m cost far more than the model.
"""

import os

import torch
from recbole.data import create_dataset
from recbole.utils import get_model, init_seed

from recbole_hydra.files import replaced_atomically
from recbole_hydra.runtime.checkpoints import load_checkpoint, register_legacy_modules


def read_checkpoint(path):
    """The checkpoint's content ({'config', 'state_dict', ...}), unpickled: the caller trusts `path`.

    Raises FileNotFoundError, or ValueError in one line when the file is no RecBole checkpoint.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such checkpoint file: {path}")
    register_legacy_modules()
    try:
        state = load_checkpoint(path)
    except Exception as error:  # a text file, a truncated zip, a pickle of something unknown
        raise ValueError(f"{path} is not a RecBole checkpoint ({type(error).__name__}: {error})") from None
    if not isinstance(state, dict) or "config" not in state or "state_dict" not in state:
        raise ValueError(f"{path} is not a RecBole checkpoint (it lacks 'config' and 'state_dict')")
    return state


def build_model(state, data_path=None):
    """(model in eval mode on CPU, dataset) from a read_checkpoint() result.

    `data_path`: the folder that holds the dataset's folder, if not where it was at training time.
    """
    config = state["config"]
    if data_path is not None:
        config["data_path"] = os.path.join(os.fspath(data_path), config["dataset"])
    config["device"] = torch.device("cpu")
    dataset = create_dataset(config)
    model = get_model(config["model"])(config, dataset)
    model.load_state_dict(state["state_dict"])
    model.load_other_parameter(state.get("other_parameter"))
    return model.eval(), dataset


def save_untrained_checkpoint(config, path):
    """Write a RecBole checkpoint of a freshly initialised model for `config` (seeded): the shapes and
    cost of a trained one, no training."""
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    model = get_model(config["model"])(config, dataset)
    content = {
        "config": config,
        "epoch": 0,
        "state_dict": model.state_dict(),
        "other_parameter": model.other_parameter(),
    }
    with replaced_atomically(path) as temporary:
        torch.save(content, temporary)


def item_tokens(config):
    """The item tokens of `config`'s dataset, padding left out."""
    dataset = create_dataset(config)
    return [str(token) for token in dataset.field2id_token[dataset.iid_field][1:]]
