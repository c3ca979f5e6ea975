"""The one room that knows RecBole's internals: touch it when RecBole changes.

    patches.py       every change made to RecBole at run time (`install`)
    model_names.py   which model names exist; the lookup behind every option that names a model
    defaults.py      properties/<Model>.yaml and the defaults that follow from the mode
    config.py        the one Config builder our commands use (typed overrides, typo checks)
    run_checks.py    checks on the run's RecBole keys and on a checkpoint to resume from
    checkpoints.py   trusted checkpoint loading, a run's file names, old layouts' class paths
    training.py      one run: dataset → dataloaders → model → trainer, timed, resumable
    rng.py           every random generator's state, so a resumed run replays an uninterrupted one

May import `model/` and the leaf modules; never `experiments/`, `online/` or `cli/`.
"""
