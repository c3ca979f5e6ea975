"""`curves`: RecBole's log lines read back into (epoch, training seconds so far, validation score)."""

from recbole_hydra.cli import main
from recbole_hydra.experiments.reports.curves import read_curve

LOG = """Thu 03 Dec 2026 19:37:22 INFO  epoch 0 training [time: 10.50s, train loss: 1916.5605]
Thu 03 Dec 2026 19:38:02 INFO  epoch 0 evaluating [time: 40.50s, valid_score: 0.090200]
Thu 03 Dec 2026 19:39:22 INFO  epoch 1 training [time: 20.00s, train loss: 1500.0]
Thu 03 Dec 2026 19:40:02 INFO  epoch 1 evaluating [time: 4.50s, valid_score: 0.119900]
Thu 03 Dec 2026 19:41:22 INFO  epoch 2 training [time: 30.00s, train loss: 1400.0]
"""
RESUMED = """Thu 03 Dec 2026 20:00:00 INFO  epoch 2 training [time: 12.00s, train loss: 1400.0]
Thu 03 Dec 2026 20:00:09 INFO  epoch 2 evaluating [time: 4.50s, valid_score: 0.130000]
"""


def test_a_resumed_run_makes_one_curve_of_training_seconds(tmp_path):
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    first.write_text(LOG)
    second.write_text(RESUMED)
    assert read_curve([first]) == [(0, 10.5, 0.0902), (1, 30.5, 0.1199)]  # epoch 2 was never evaluated
    # the epoch cut short and trained again counts once, with its last record; evaluation time is left out
    assert read_curve([first, second]) == [(0, 10.5, 0.0902), (1, 30.5, 0.1199), (2, 42.5, 0.13)]


def test_cli_writes_the_plot_and_its_points(tmp_path, capsys):
    log = tmp_path / "a.log"
    log.write_text(LOG)
    out = tmp_path / "curves.png"
    assert main(["curves", "--run", f"hydra={log}", "--output", str(out)]) == 0
    assert out.stat().st_size > 0 and "hydra,1,30.5,0.1199" in (tmp_path / "curves.csv").read_text()
    assert main(["curves", "--run", "hydra", "--output", str(out)]) == 2
    assert "expected LABEL=LOG" in capsys.readouterr().err
