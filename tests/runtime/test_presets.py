"""properties/presets/*.yaml: each loads through --config_files, sets only keys HydraRec documents, and
sets what it says in both modes."""

import os

import pytest

from recbole_hydra.files import load_yaml
from recbole_hydra.runtime.config import build_config
from recbole_hydra.runtime.defaults import model_yaml

from helpers import REPO

PRESETS = os.path.join(REPO, "properties", "presets")


@pytest.mark.parametrize("name", sorted(os.listdir(PRESETS)))
def test_a_preset_sets_documented_keys_and_wins_over_the_defaults(name):
    preset = load_yaml(os.path.join(PRESETS, name))
    assert preset and set(preset) <= set(load_yaml(model_yaml("HydraRec"))), name
    for bidirectional in (False, True):
        overrides = {"bidirectional": bidirectional}
        config = build_config("HydraRec", "ml-100k", [os.path.join(PRESETS, name)], overrides)
        for key, value in preset.items():
            assert config[key] == value, (name, key, bidirectional)


def test_the_dense_preset_sets_causal_dropout_and_whole_cloze_copies():
    dense = build_config("HydraRec", "ml-100k", [os.path.join(PRESETS, "dense.yaml")])
    default = build_config("HydraRec", "ml-100k")
    assert (default["hidden_dropout_prob"], dense["hidden_dropout_prob"]) == (0.5, 0.2)
    assert (default["attn_dropout_prob"], dense["attn_dropout_prob"]) == (0.5, 0.2)
    assert (default["cloze_copies"], default["cloze_copies_by_length"]) == (20, True)
    assert (dense["cloze_copies"], dense["cloze_copies_by_length"]) == (0, False)  # 5 whole copies at N = 200
