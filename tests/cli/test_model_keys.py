"""Every key of properties/HydraRec.yaml, given a bad value on the command line, stops the run before
RecBole reads any data: exit status 2 and one line naming the key."""

import os
import subprocess
import sys

import pytest

from recbole_hydra.cli import main
from recbole_hydra.files import load_yaml
from recbole_hydra.runtime.defaults import model_yaml

from helpers import REPO

# One invalid value per key, as a user would type it after --key=.
INVALID = {
    "n_layers": "0",
    "hidden_size": "-8",
    "inner_size": "2.5",
    "hidden_dropout_prob": "1.0",
    "attn_dropout_prob": "-0.1",
    "hidden_act": "softmax",
    "layer_norm_eps": "0",
    "initializer_range": "-0.02",
    "loss_type": "MSE",
    "bidirectional": "yes",
    "mask_ratio": "1.5",
    "ft_ratio": "-1",
    "cloze_copies": "-2",
    "cloze_copies_by_length": "often",
    "cloze_copies_min": "-1",
    "compile": "maybe",
    "train_scheme": "windows",
    "local_window": "-1",
    "hydra_mean": "sometimes",
    "train_batch_size": "-128",
    "train_batch_events": "-1",
    "loss_max_logits": "0",
    "attention": "linear",
    "n_heads": "0",
    "positions": "relative",
}


def test_every_model_key_has_an_invalid_example():
    assert set(INVALID) == set(load_yaml(model_yaml("HydraRec")))


@pytest.mark.parametrize("key", sorted(INVALID))
def test_a_bad_model_key_exits_2_naming_it_before_any_data_is_read(key, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # RecBole writes log/ and saved/ into the working directory
    assert main(["train", "--dataset", "no-such-dataset", f"--{key}={INVALID[key]}"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"'{key}'" in err, err
    # The dataset does not exist: had RecBole got as far as reading data, the error would be about it.
    assert "no-such-dataset" not in err
    assert os.listdir(tmp_path) == []


def test_a_bad_model_key_from_a_shell_prints_no_traceback(tmp_path):
    done = subprocess.run(
        [sys.executable, os.path.join(REPO, "run_hydrarec.py"), "--hidden_size=0"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: config key 'hidden_size' must be a positive integer")
    assert "Traceback" not in done.stderr
