"""The claims grid: every mixer in both modes, RecBole's peers with their budget, ratios over softmax."""

from recbole_hydra.cli import main
from recbole_hydra.experiments.claims import PEERS, claims_models, references
from recbole_hydra.experiments.compare import resolve_references
from recbole_hydra.experiments.grid import expand_models
from recbole_hydra.model.mixers import MIXERS


def test_the_grid_holds_every_mixer_in_both_modes_and_the_peers():
    rows = expand_models(claims_models())
    skeleton = {(row.mode, row.settings.get("attention", "hydra")) for row in rows if row.model == "HydraRec"}
    assert skeleton == {(mode, mixer) for mode in ("causal", "bidirectional") for mixer in MIXERS}
    peers = [row for row in rows if row.model != "HydraRec"]
    assert [row.model for row in peers] == list(PEERS)
    assert all(row.settings == {"epochs": 30, "stopping_step": 3, "train_batch_size": 512} for row in peers)
    assert resolve_references(references(), rows) == [
        ("HydraRec", "causal", "attention=softmax"),
        ("HydraRec", "bidirectional", "attention=softmax"),
    ]
    assert not [row for row in expand_models(claims_models(peers=False)) if row.model != "HydraRec"]


def test_claims_takes_compares_options_and_reports_bad_ones(capsys, tmp_path):
    assert main(["claims", "--no-peers", "--seeds", "0", "--output", str(tmp_path / "never")]) == 2
    assert "option --seeds must be a positive integer" in capsys.readouterr().err
    assert main(["claims", "--extra-models", "NoSuchRec", "--output", str(tmp_path / "never")]) == 2
    assert "'NoSuchRec' is not a model" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()
