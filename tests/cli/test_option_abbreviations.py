"""A RecBole key given as --key=value reaches RecBole even when it starts one of our options' names:
argparse's prefix matching would read --seed=2021 as --seeds=2021 and drop the seed."""

import importlib

import pytest

from recbole_hydra.cli import SUBCOMMANDS


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_no_command_reads_an_abbreviation_of_its_options(command):
    parser = importlib.import_module(SUBCOMMANDS[command]).parser()
    assert parser.allow_abbrev is False


def test_compare_passes_seed_to_recbole_and_keeps_the_seed_count():
    parser = importlib.import_module("recbole_hydra.cli.compare").parser()
    args, rest = parser.parse_known_args(
        ["--dataset", "ml-100k", "--models", "HydraRec", "--seed=2021", "--seeds", "1"]
    )
    assert args.seeds == 1
    assert rest == ["--seed=2021"]
