"""Checkpoints written by the package's 0.1 layout (flat modules) still load, score and resume.

Their pickles name classes by the module paths of that layout: `recbole_hydra.config.HydraConfig`
and `recbole_hydra.model.HydraRec` (tests/fixtures/checkpoint-layout-0.1/README.md).
"""

import os
import shutil
import zipfile

import pytest
import torch
from recbole.data import create_dataset
from recbole.utils import get_model

from recbole_hydra import HydraRec
from recbole_hydra.config_errors import ConfigError
from recbole_hydra.runtime.checkpoints import load_checkpoint
from recbole_hydra.runtime.config import build_config
from recbole_hydra.runtime.run_checks import check_resume_checkpoint
from recbole_hydra.runtime.training import train_and_test

from helpers import FIXTURES, overrides, write_dataset

OLD = os.path.join(FIXTURES, "checkpoint-layout-0.1")
LAST, BEST = "HydraRec-syn-legacy-last.pth", "HydraRec-syn-legacy.pth"


@pytest.fixture
def old_run(tmp_path):
    """The old run's files copied to a scratch folder (resuming consumes them), and its dataset."""
    saved = tmp_path / "saved"
    shutil.copytree(OLD, saved)
    write_dataset(tmp_path, name="syn", users=30, items=12, per_user=8)
    settings = overrides(
        tmp_path, train_batch_size=64, stopping_step=50, hidden_size=8, inner_size=16, MAX_ITEM_LIST_LENGTH=6
    )
    return saved, dict(settings, local_window=0)  # 0.1 had no causal local term


def test_the_fixture_pickles_the_old_module_paths():
    """Otherwise the tests below would prove nothing about old layouts."""
    with zipfile.ZipFile(os.path.join(OLD, LAST)) as archive:
        pickled = archive.read(next(name for name in archive.namelist() if name.endswith("data.pkl")))
    assert b"recbole_hydra.config" in pickled and b"recbole_hydra.model" in pickled
    assert not os.path.exists(os.path.join(os.path.dirname(FIXTURES), os.pardir, "recbole_hydra", "config.py"))


def test_an_old_checkpoint_loads_and_scores(old_run, tmp_path):
    state = load_checkpoint(os.path.join(OLD, BEST))
    config = state["config"]
    assert type(config).__name__ == "HydraConfig" and config.model_class is HydraRec
    config["data_path"] = str(tmp_path / "syn")  # the data lay elsewhere when it was saved
    model = get_model(config["model"])(config, create_dataset(config))
    model.load_state_dict(state["state_dict"])
    model.eval()
    with torch.no_grad():
        scores = model.full_sort_predict(
            {model.ITEM_SEQ: torch.tensor([[1, 2, 3, 0, 0, 0]]), model.ITEM_SEQ_LEN: torch.tensor([3])}
        )
    assert scores.shape == (1, model.n_items) and torch.isfinite(scores).all()


def test_resuming_an_old_run_under_todays_defaults_names_the_key_that_changed(old_run):
    saved, settings = old_run
    del settings["local_window"]  # today's default, 3
    config = build_config(
        "HydraRec", "syn", overrides=dict(settings, train_scheme="prefix", epochs=4, checkpoint_dir=str(saved))
    )
    with pytest.raises(ConfigError, match="trained with local_window=0 but this run has local_window=3"):
        check_resume_checkpoint(str(saved / LAST), config)


def test_an_old_interrupted_run_resumes_to_the_end(old_run):
    saved, settings = old_run
    last = str(saved / LAST)
    # 0.1 trained per prefix: resuming it under today's default scheme would change the training.
    config = build_config("HydraRec", "syn", overrides=dict(settings, epochs=4, checkpoint_dir=str(saved)))
    with pytest.raises(
        ConfigError, match="trained with train_scheme='prefix' but this run has train_scheme='sequence'"
    ):
        check_resume_checkpoint(last, config)
    settings = dict(settings, train_scheme="prefix")
    config = build_config("HydraRec", "syn", overrides=dict(settings, epochs=4, checkpoint_dir=str(saved)))
    state = check_resume_checkpoint(last, config)
    assert state["epoch"] == 1  # epochs 0 and 1 were trained by the old layout
    result = train_and_test(config, resume_file=last, resume_state=state)
    assert result.epochs_run == 4 and len(result.valid_scores) == 4  # its history came along
    assert result.checkpoint == str(saved / BEST) and not os.path.exists(last)
    assert 0 <= result.test_result["ndcg@5"] <= 1
