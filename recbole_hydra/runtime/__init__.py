"""The one room that knows RecBole's internals: touch it when RecBole changes.

    patches.py        every change made to RecBole at run time (`install`)
    model_names.py    which model names exist; the lookup behind every option that names a model
    defaults.py       properties/<Model>.yaml and the defaults that follow from the mode
    config.py         the one Config builder our commands use (typed overrides, typo checks)
    run_checks.py     checks on the run's RecBole keys and on a checkpoint to resume from
    train_scheme.py   HydraRec's training rows: the scheme's names, legacy default, checks and rows
    seen_items.py     `exclude_seen`: rank only the items a user had not seen before the target
    datasets.py       a dataset's files checked before RecBole reads them; a dataset and its batches
    checkpoints.py    trusted checkpoint loading, a run's file names, old layouts' class paths
    training.py       one run: dataset → dataloaders → model → trainer, timed, resumable
    saved_models.py   a trained model back from its checkpoint: loaded with its data, or tested
    inference.py      a checkpoint's model and dataset alone, for scoring (serving), no dataloaders
    window_batches.py `train_batch_events`: training batches of similar-length windows counted in events
    lr_schedule.py    `lr_warmup_steps`, `lr_decay`: the learning rate per step, saved with the optimizer
    rng.py            every random generator's state, so a resumed run replays an uninterrupted one
    memory.py         the heap glibc keeps after freed tensors, handed back after each epoch

May import `model/`, `data/` and the leaf modules; never `experiments/`, `online/` or `cli/`.
"""
