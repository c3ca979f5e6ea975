"""A dataset as RecBole reads it: its atomic files checked first, then read, and batches in its fields.

`check_dataset` is the RecBole side of the dataset check: which files a Config names, and what its
model and split need of them; data/inter_checks.py checks each file, line by line. Every path that
trains calls it once, before anything is written: `train`, `compare` and `tune` (in the process that
plans the runs), `stream` when it trains its model first, and `online.fine_tune`.
"""

import os

import yaml
from recbole.data import create_dataset
from recbole.data.interaction import Interaction
from recbole.data.transform import construct_transform
from recbole.utils import ModelType, init_seed

from recbole_hydra.data.inter_checks import (
    MIN_SEQUENTIAL_INTERACTIONS,
    DatasetError,
    InterSpec,
    check_inter_file,
    validation_needs,
)


def inter_spec(config, benchmark=False):
    """What the `.inter` files of `config`'s dataset must hold, as RecBole will read them."""
    sequential = config["MODEL_TYPE"] == ModelType.SEQUENTIAL
    eval_args = config["eval_args"] or {}
    ordered = sequential or eval_args.get("order") == "TO"
    load_col, unload_col = config["load_col"], config["unload_col"] or {}
    if load_col is not None:
        load_col = None if load_col.get("inter") == "*" else tuple(load_col.get("inter") or ())
    return InterSpec(
        user_field=config["USER_ID_FIELD"],
        item_field=config["ITEM_ID_FIELD"],
        time_field=config["TIME_FIELD"] if ordered else None,
        separator=config["field_separator"],
        encoding=config["encoding"],
        load_col=load_col,
        unload_col=tuple(unload_col.get("inter") or ()),
        # Benchmark files are already split and RecBole filters nothing in them.
        user_interval=None if benchmark else config["user_inter_num_interval"],
        min_user_interactions=MIN_SEQUENTIAL_INTERACTIONS if sequential and not benchmark else 1,
        eval_min_interactions=0 if benchmark else validation_needs(eval_args, sequential),
    )


def _recbole_downloads(name):
    """True for the datasets RecBole fetches itself when their folder is missing."""
    import recbole

    urls = os.path.join(os.path.dirname(recbole.__file__), "properties", "dataset", "url.yaml")
    with open(urls, encoding="utf-8") as f:
        return name in (yaml.safe_load(f) or {})


def check_dataset(config):
    """Check the atomic files RecBole will load for `config`; one InterSummary per `.inter` file.

    Call it right after build_config and before anything writes to disk: it raises DatasetError
    (a ConfigError, so the CLI prints one line and exits 2) at the first problem.
    """
    folder, name = config["data_path"], config["dataset"]
    if not os.path.isdir(folder):
        if _recbole_downloads(name):
            return []  # RecBole downloads its own well-formed files on first use
        raise DatasetError(
            f"{folder}: dataset folder not found (config keys data_path and dataset={name!r}); expected "
            f"{os.path.join(folder, name + '.inter')} in RecBole's atomic format (see dataset/README.md)"
        )
    benchmark = config["benchmark_filename"]
    files = [f"{name}.{part}.inter" for part in benchmark] if benchmark else [f"{name}.inter"]
    spec = inter_spec(config, benchmark=bool(benchmark))
    return [check_inter_file(os.path.join(folder, filename), spec) for filename in files]


def read_dataset(config):
    """RecBole's dataset for `config` (`create_dataset`), after seeding as RecBole's runs do."""
    init_seed(config["seed"], config["reproducibility"])
    return create_dataset(config)


def batch_transform(config):
    """RecBole's transform of a training batch for `config` (e.g. the Cloze masking of `mask_itemseq`)."""
    return construct_transform(config)


def as_batch(fields):
    """{field: tensor} as a RecBole Interaction, the batch type models take."""
    return Interaction(fields)
