"""The claims grid: every mixer in both modes, RecBole's peers with their budget, ratios over softmax."""

from recbole_hydra.cli import main
from recbole_hydra.experiments.compare import resolve_references
from recbole_hydra.experiments.grids.claims import PEERS, claims_models, references, skeleton_models
from recbole_hydra.experiments.grids.grid import expand_models
from recbole_hydra.experiments.reports.claims_report import (
    choose_batch_sizes,
    claims_table,
    per_seed_table,
    write_claims_report,
)
from recbole_hydra.experiments.reports.tables import write_rows
from recbole_hydra.model.mixers import MIXERS


def test_the_grid_holds_every_mixer_in_both_modes_and_the_peers():
    rows = expand_models(claims_models())
    skeleton = {(row.mode, row.settings.get("attention", "hydra")) for row in rows if row.model == "HydraRec"}
    assert skeleton == {(mode, mixer) for mode in ("causal", "bidirectional") for mixer in MIXERS}
    peers = [row for row in rows if row.model != "HydraRec"]
    assert [row.model for row in peers] == list(PEERS)
    assert all(row.settings == {"train_batch_size": 512} for row in peers)  # no budget of their own
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


def test_batch_sizes_add_each_mixer_at_each_size_but_not_twice_at_the_default():
    models = skeleton_models(batch_sizes=[32, 128, 128])
    rows = expand_models(models)  # every spec is a valid, distinct row
    sizes = {}
    for row in rows:
        sizes.setdefault((row.mode, row.settings.get("attention", "hydra")), []).append(
            row.settings.get("train_batch_size")
        )
    # causal's default is 32 and bidirectional's 128: each mode adds only the other size
    assert sizes == {
        **{("causal", mixer): [None, 128] for mixer in MIXERS},
        **{("bidirectional", mixer): [None, 32] for mixer in MIXERS},
    }
    assert skeleton_models() == skeleton_models(batch_sizes=[])
    assert len(skeleton_models()) == 2 * len(MIXERS)


def _run(model, mode, variant, seed, valid, test, seconds=10.0, status="ok", stopped_by="early stopping"):
    return {
        "model": model,
        "mode": mode,
        "variant": variant,
        "seed": seed,
        "status": status,
        "valid_ndcg@10": valid,
        "test_ndcg@10": test,
        "test_hit@10": 2 * test,
        "test_mrr@10": test / 2,
        "train_seconds_per_epoch": seconds,
        "train_seconds": 20 * seconds,
        "stopped_by": stopped_by,
        "budget_capped": "yes" if stopped_by == "time budget" else "",
        "peak_memory_mb": 100 * seconds,
    }


def test_claims_md_shows_each_mixer_at_the_batch_size_its_validation_prefers():
    rows = [
        # linrec: better on test at the default, better on validation at 128: 128 is chosen
        _run("HydraRec", "causal", "attention=linrec", 1, valid=0.05, test=0.09),
        _run("HydraRec", "causal", "attention=linrec", 2, valid=0.05, test=0.09),
        _run("HydraRec", "causal", "attention=linrec:train_batch_size=128", 1, valid=0.07, test=0.04, seconds=30.0),
        _run("HydraRec", "causal", "attention=linrec:train_batch_size=128", 2, valid=0.07, test=0.06, seconds=30.0),
        # the control: the default wins on validation; a failed run counts for nothing
        _run("HydraRec", "causal", "attention=softmax", 1, valid=0.06, test=0.05),
        _run("HydraRec", "causal", "attention=softmax", 2, valid=0.06, test=0.05),
        _run("HydraRec", "causal", "attention=softmax:train_batch_size=128", 1, valid=0.04, test=0.08),
        _run("HydraRec", "causal", "attention=softmax:train_batch_size=128", 2, valid=0.99, test=0.99, status="failed"),
        _run("GRU4Rec", "-", "epochs=30:train_batch_size=512", 1, valid=0.05, test=0.025, seconds=60.0),
    ]
    chosen = choose_batch_sizes(rows)
    assert {key: runs[0]["variant"] for key, runs in chosen.items()} == {
        ("HydraRec", "causal", "attention=linrec"): "attention=linrec:train_batch_size=128",
        ("HydraRec", "causal", "attention=softmax"): "attention=softmax",
        ("GRU4Rec", "-", "epochs=30"): "epochs=30:train_batch_size=512",
    }
    lines = {
        line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[2:-1]]
        for line in claims_table(rows).splitlines()[2:]
    }
    linrec = lines["`linrec`"]
    # mode, batch, seeds, test NDCG@10 (mean ± std of 0.04 and 0.06), ..., ratios over the chosen control
    # (0.05 test, 10 s an epoch, 200 s to stop, 1000 MB)
    assert linrec[:4] == ["causal", "128", "2", "0.0500 ± 0.0141"]
    assert linrec[-7:] == ["600 ± 0", "early stopping", "3000 ± 0", "1.00×", "3.00×", "3.00×", "3.00×"]
    assert lines["`softmax` (control)"][1:3] == ["default", "2"]
    assert lines["GRU4Rec"][0] == "causal" and lines["GRU4Rec"][-4] == "0.50×"  # peers: over the causal control


def test_claims_md_marks_runs_a_cap_cut_short():
    rows = [
        _run("HydraRec", "causal", "", 1, valid=0.05, test=0.05, stopped_by="time budget"),
        _run("HydraRec", "causal", "", 2, valid=0.05, test=0.05),
        _run("HydraRec", "bidirectional", "", 1, valid=0.05, test=0.05, stopped_by="epoch cap"),
        _run("SASRec", "causal", "", 1, valid=0.05, test=0.05, stopped_by=""),  # a CSV from before the column
    ]
    table = claims_table(rows).splitlines()
    stopped_by = {tuple(c.strip() for c in line.split("|")[1:3]): line.split("|")[11].strip() for line in table}
    assert stopped_by[("`hydra`", "causal")] == "early stopping (1 of 2), time budget (1 of 2)"
    assert stopped_by[("`hydra`", "bidirectional")] == "epoch cap"
    assert stopped_by[("SASRec", "causal")] == "not recorded"


def test_claims_md_is_written_only_once_a_run_has_finished(tmp_path):
    csv_path, md_path = tmp_path / "comparison.csv", tmp_path / "claims.md"
    assert write_claims_report(str(csv_path), str(md_path), "ml-100k") is None
    write_rows(str(csv_path), [_run("HydraRec", "causal", "", 1, valid=0.05, test=0.05, status="failed")])
    assert write_claims_report(str(csv_path), str(md_path), "ml-100k") is None and not md_path.exists()
    write_rows(str(csv_path), [_run("HydraRec", "causal", "", 1, valid=0.05, test=0.05)])
    assert write_claims_report(str(csv_path), str(md_path), "ml-100k") == str(md_path)
    assert "# The paper's claims on ml-100k" in md_path.read_text()


def test_the_seed_by_seed_table_counts_wins_only_on_seeds_both_rows_finished():
    rows = [
        _run("HydraRec", "causal", "", 1, valid=0.07, test=0.06),
        _run("HydraRec", "causal", "", 2, valid=0.07, test=0.05),
        _run("HydraRec", "causal", "", 3, valid=0.07, test=0.04),
        _run("HydraRec", "causal", "attention=softmax", 1, valid=0.06, test=0.05),
        _run("HydraRec", "causal", "attention=softmax", 2, valid=0.06, test=0.05),  # a tie is not a win
        _run("HydraRec", "causal", "attention=softmax", 3, valid=0.06, test=0.03),
        _run("SASRec", "causal", "train_batch_size=512", 1, valid=0.06, test=0.07),
        _run("SASRec", "causal", "train_batch_size=512", 3, valid=0.06, test=0.02),  # seed 2 did not finish
    ]
    lines = {
        line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[2:-1]]
        for line in per_seed_table(rows).splitlines()[2:]
    }
    # mode, seed 1, seed 2, seed 3, test above the control, hydra above this row
    assert lines["`hydra`"] == ["causal", "0.0600 (0.0700)", "0.0500 (0.0700)", "0.0400 (0.0700)", "2 of 3", "-"]
    assert lines["`softmax` (control)"][-2:] == ["-", "2 of 3"]
    assert lines["SASRec"] == ["causal", "0.0700 (0.0600)", "not finished", "0.0200 (0.0600)", "1 of 2", "1 of 2"]


def test_claims_md_states_the_budget_also_when_no_time_budget_was_resolved(tmp_path):
    csv_path, md_path = tmp_path / "comparison.csv", tmp_path / "claims.md"
    row = {**_run("HydraRec", "causal", "", 1, valid=0.05, test=0.05), "config_file": "configs/run.yaml"}
    write_rows(str(csv_path), [row])
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "run.resolved.yaml").write_text("epochs: 300\nstopping_step: 10\neval_step: 1\n")
    write_claims_report(str(csv_path), str(md_path), "lastfm")
    text = md_path.read_text()
    assert "Training budget, the same for every row: at most 300 epochs, validation every epoch" in text
    assert "s of training (train_time_budget)" not in text


def test_claims_md_says_what_its_memory_column_measured(tmp_path):
    csv_path, md_path = tmp_path / "comparison.csv", tmp_path / "claims.md"
    gpu = {**_run("HydraRec", "causal", "", 1, valid=0.05, test=0.05), "peak_memory_kind": "cuda_max_allocated"}
    write_rows(str(csv_path), [gpu])
    write_claims_report(str(csv_path), str(md_path), "ml-100k")
    text = md_path.read_text()
    assert "torch.cuda.max_memory_allocated" in text and "peak RSS" not in text
    cpu = {**gpu, "peak_memory_kind": "process_peak_rss"}
    write_rows(str(csv_path), [cpu])
    write_claims_report(str(csv_path), str(md_path), "ml-100k")
    assert "process peak RSS" in md_path.read_text()


def test_claims_refuses_batch_sizes_that_are_not_positive(capsys, tmp_path):
    assert main(["claims", "--batch-sizes", "0", "--output", str(tmp_path / "never")]) == 2
    assert "option --batch-sizes takes positive integers" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()


def test_claims_writes_claims_md_beside_the_comparison_it_ran(monkeypatch, tmp_path, capsys):
    from recbole_hydra.cli import compare as compare_cli

    asked = {}

    def fake_compare(argv):  # stands in for the grid's training: one finished run in DIR/comparison.csv
        asked["argv"] = argv
        write_rows(str(tmp_path / "out" / "comparison.csv"), [_run("HydraRec", "causal", "", 1, valid=0.05, test=0.05)])
        return 0

    (tmp_path / "out").mkdir()
    monkeypatch.setattr(compare_cli, "run", fake_compare)
    assert (
        main(["claims", "--no-peers", "--batch-sizes", "64", "--dataset", "ml-100k", "-o", str(tmp_path / "out")]) == 0
    )
    models = asked["argv"][asked["argv"].index("--models") + 1 : asked["argv"].index("--reference")]
    assert "HydraRec:causal:attention=elu:train_batch_size=64" in models
    assert "HydraRec:bidirectional:train_batch_size=64" in models
    assert "# The paper's claims on ml-100k" in (tmp_path / "out" / "claims.md").read_text()
    assert "claims.md" in capsys.readouterr().out
