"""A trained model back from the checkpoint a run saved: loaded with its data, or tested.

Through RecBole's own `load_data_and_model`, which patches.py makes trust the one file named, and
which rebuilds the dataset and its splits from the checkpoint's config.
"""

import recbole.quick_start

from recbole_hydra.runtime.training import make_trainer


def load_saved_model(checkpoint_file):
    """(config, model, dataset, train_data, valid_data, test_data) of a checkpoint, as RecBole loads them."""
    return recbole.quick_start.load_data_and_model(checkpoint_file)  # looked up when called: patched by then


def evaluate_saved_model(checkpoint_file):
    """Test metrics of the model in a checkpoint, with RecBole's own evaluator."""
    config, model, _, _, _, test_data = load_saved_model(checkpoint_file)
    trainer = make_trainer(config, model)
    return dict(trainer.evaluate(test_data, load_best_model=False, show_progress=False))
