"""Shared fixtures: tiny RecBole settings and a scratch working directory per test session."""

import os
import warnings

import pytest

warnings.filterwarnings("ignore", category=FutureWarning)  # RecBole 1.2.1 on pandas 2.x
warnings.filterwarnings("ignore", category=UserWarning, message=".*pkg_resources.*")

import torch  # noqa: E402

import recbole_hydra  # noqa: E402,F401  registers HydraRec

from helpers import TINY  # noqa: E402

# Tiny tensors gain nothing from a second thread, and on a busy 2-core machine idle-spinning
# OpenMP threads made one test epoch 50x slower. Tests that need more set it themselves.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
    """RecBole writes saved/ and log/ into the current directory: keep them out of the repo."""
    path = tmp_path_factory.mktemp("recbole_run")
    old = os.getcwd()
    os.chdir(path)
    yield path
    os.chdir(old)


@pytest.fixture
def tiny_config(workdir):
    return dict(TINY, checkpoint_dir=str(workdir / "saved"))
