"""How HydraRec plugs into RecBole: lookup, defaults, mode-dependent keys, config errors."""

import subprocess
import sys

import pytest
from recbole.config import Config
from recbole.utils import get_model

from recbole_hydra import HydraRec
from recbole_hydra.config_errors import ConfigError
from recbole_hydra.files import load_yaml
from recbole_hydra.model.config_checks import check_model_config
from recbole_hydra.runtime import patches
from recbole_hydra.runtime.config import build_config, parse_overrides
from recbole_hydra.runtime.defaults import model_yaml


def test_recbole_finds_hydrarec():
    assert get_model("HydraRec") is HydraRec
    assert get_model("SASRec").__name__ == "SASRec"  # built-ins untouched


def test_plugin_never_shadows_a_builtin(monkeypatch):
    monkeypatch.setattr(patches, "PLUGIN_MODELS", {"SASRec": "recbole_hydra.model.hydrarec"})
    monkeypatch.delitem(sys.modules, "recbole.model.sequential_recommender.sasrec", raising=False)
    with pytest.raises(patches.PluginNameClash, match="SASRec"):
        patches._register_models()


def test_yaml_defaults_apply_without_passing_the_file():
    config = Config(model="HydraRec", dataset="ml-100k", config_dict={})
    defaults = load_yaml(model_yaml("HydraRec"))
    for key, value in defaults.items():
        assert config[key] == value, key
    assert config["transform"] is None
    assert config["train_neg_sample_args"]["distribution"] == "none"  # CE: no negative sampling


def test_user_settings_win_over_our_defaults():
    config = Config(model="HydraRec", dataset="ml-100k", config_dict={"hidden_size": 24})
    assert config["hidden_size"] == 24


def test_bidirectional_key_alone_selects_the_mask_transform():
    config = Config(model="HydraRec", dataset="ml-100k", config_dict={"bidirectional": True})
    assert config["transform"] == "mask_itemseq"
    assert config["mask_ratio"] == 0.2


def test_each_mode_and_scheme_starts_from_its_reference_defaults():
    causal = Config(model="HydraRec", dataset="ml-100k")
    assert (causal["hidden_dropout_prob"], causal["attn_dropout_prob"]) == (0.5, 0.5)  # SASRec's
    assert (causal["train_scheme"], causal["train_batch_size"]) == ("sequence", 32)  # windows
    bidirectional = Config(model="HydraRec", dataset="ml-100k", config_dict={"bidirectional": True})
    assert (bidirectional["hidden_dropout_prob"], bidirectional["attn_dropout_prob"]) == (0.2, 0.2)  # BERT4Rec's
    assert (bidirectional["local_window"], causal["local_window"]) == (3, 3)
    assert bidirectional["train_batch_size"] == 128  # windows, each masked afresh
    prefix = Config(model="HydraRec", dataset="ml-100k", config_dict={"train_scheme": "prefix"})
    assert prefix["train_batch_size"] == 2048  # RecBole's, for RecBole's rows
    bidirectional_prefix = Config(
        model="HydraRec", dataset="ml-100k", config_dict={"bidirectional": True, "train_scheme": "prefix"}
    )
    assert bidirectional_prefix["train_batch_size"] == 2048
    chosen = Config(
        model="HydraRec",
        dataset="ml-100k",
        config_dict={
            "bidirectional": True,
            "hidden_dropout_prob": 0.4,
            "train_scheme": "prefix",
            "train_batch_size": 64,
        },
    )
    assert (chosen["hidden_dropout_prob"], chosen["attn_dropout_prob"], chosen["train_batch_size"]) == (0.4, 0.2, 64)


def test_builtin_models_keep_recbole_defaults():
    config = Config(model="SASRec", dataset="ml-100k", config_dict={"train_neg_sample_args": None})
    assert "bidirectional" not in config


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("loss_type", "MSE", "loss_type"),
        ("hidden_size", 0, "hidden_size"),
        ("hidden_size", -4, "hidden_size"),
        ("n_layers", 1.5, "n_layers"),
        ("inner_size", None, "inner_size"),
        ("hidden_dropout_prob", 1.0, "hidden_dropout_prob"),
        ("attn_dropout_prob", -0.1, "attn_dropout_prob"),
        ("hidden_act", "softmax", "hidden_act"),
        ("layer_norm_eps", 0, "layer_norm_eps"),
        ("bidirectional", "yes", "bidirectional"),
        ("attention", "linear", "attention"),
        ("n_heads", 0, "n_heads"),
    ],
)
def test_config_errors_name_the_key(key, value, expected):
    with pytest.raises(ConfigError, match=expected):  # as soon as RecBole's Config is built
        Config(model="HydraRec", dataset="ml-100k", config_dict={key: value})
    config = Config(model="HydraRec", dataset="ml-100k")
    config[key] = value  # changed after it was built (or unpickled): the model checks it again
    with pytest.raises(ConfigError, match=expected):
        check_model_config(config)


@pytest.mark.parametrize(
    "key, value",
    [
        ("MAX_ITEM_LIST_LENGTH", 0),
        ("train_batch_size", -128),
        ("train_scheme", "windows"),
        ("cloze_copies", -2),
        ("cloze_copies_by_length", "often"),
        ("cloze_copies_min", -1),
        ("mask_ratio", 1.5),
        ("ft_ratio", -1),
    ],
)
def test_the_run_keys_of_our_yaml_are_checked_as_the_config_is_built(key, value):
    """Keys that shape the training rows, not the model (train_scheme.py, run_checks.py), through RecBole's API too."""
    with pytest.raises(ConfigError, match=f"'{key}'"):
        Config(model="HydraRec", dataset="ml-100k", config_dict={key: value})


def test_heads_must_divide_hidden_size_for_the_multi_head_mixers():
    with pytest.raises(ConfigError, match="'hidden_size' \\(30\\) must be divisible by 'n_heads' \\(4\\)"):
        Config(model="HydraRec", dataset="ml-100k", config_dict={"attention": "elu", "hidden_size": 30, "n_heads": 4})
    # Hydra has one head per feature: n_heads does not apply to it.
    config = Config(model="HydraRec", dataset="ml-100k", config_dict={"hidden_size": 30, "n_heads": 4})
    assert check_model_config(config)["attention"] == "hydra"


def test_configs_saved_before_the_mixer_keys_mean_hydra():
    config = Config(model="HydraRec", dataset="ml-100k")
    config["attention"] = config["n_heads"] = None  # as unpickled from an older checkpoint
    hp = check_model_config(config)
    assert hp["attention"] == "hydra" and hp["n_heads"] == 2


def test_bidirectional_needs_enough_masked_items():
    with pytest.raises(ConfigError, match="mask_ratio"):
        Config(
            model="HydraRec",
            dataset="ml-100k",
            config_dict={"bidirectional": True, "mask_ratio": 0.01, "MAX_ITEM_LIST_LENGTH": 10},
        )


def test_bidirectional_refuses_another_transform():
    config = Config(model="HydraRec", dataset="ml-100k", config_dict={"bidirectional": True})
    config["transform"] = None
    with pytest.raises(ConfigError, match="transform"):
        check_model_config(config)


def test_misspelt_key_is_an_error():
    with pytest.raises(ConfigError, match="hiden_size.*hidden_size"):
        build_config("HydraRec", "ml-100k", overrides={"hiden_size": 32})


def test_overrides_are_typed_without_eval():
    parsed = parse_overrides(
        ["--epochs=3", "--bidirectional=true", "--topk=[10, 20]", "--learner=adam", "--x=__import__('os')"]
    )
    assert parsed == {"epochs": 3, "bidirectional": True, "topk": [10, 20], "learner": "adam", "x": "__import__('os')"}
    with pytest.raises(ConfigError, match="--key=value"):
        parse_overrides(["epochs=3"])


def test_build_config_sets_ce_defaults_for_builtin_models():
    config = build_config("SASRec", "ml-100k")
    assert config["train_neg_sample_args"]["distribution"] == "none"


def test_recbole_models_leave_torch_anomaly_detection_off():
    """RecBole's sine.py switches anomaly detection on at import (slowing every backward pass)."""
    import torch

    get_model("SASRec")  # imports every RecBole sequential model, sine.py included
    assert "recbole.model.sequential_recommender.sine" in sys.modules
    assert not torch.is_anomaly_enabled()


def test_import_prints_no_ray_pkg_resources_warning():
    """`import recbole_hydra` starts every CLI command: Ray's pkg_resources notice must not be the first
    thing users read, yet other warnings must still show."""
    code = (
        "import warnings, sys; import recbole_hydra; assert 'ray' in sys.modules; "
        "warnings.warn('pkg_resources is deprecated, from elsewhere', UserWarning)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "ray/_private" not in done.stderr and "from elsewhere" in done.stderr
