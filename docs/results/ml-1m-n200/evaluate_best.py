"""How interim-bidirectional-*.json were made: a saved best checkpoint tested (validation, test over unseen
items, test over all items) with RecBole's evaluator, by the code that trained it (commit 35f2299):

    python evaluate_best.py REPO_CHECKOUT CHECKPOINT.pth
"""

import importlib
import json
import sys

sys.path.insert(0, sys.argv[1])  # the checkout that trained the checkpoint, before any recbole_hydra import
importlib.import_module("recbole_hydra")  # registers HydraRec and patches RecBole's loader
quick_start = importlib.import_module("recbole.quick_start")
training = importlib.import_module("recbole_hydra.runtime.training")
seen_items = importlib.import_module("recbole_hydra.runtime.seen_items")

config, model, dataset, train, valid, test = quick_start.load_data_and_model(sys.argv[2])
trainer = training.make_trainer(config, model)
out = {"exclude_seen": config["exclude_seen"]}
out["valid"] = dict(trainer.evaluate(valid, load_best_model=False, show_progress=False))
out["test"] = dict(trainer.evaluate(test, load_best_model=False, show_progress=False))
with seen_items.seen_items_ranked(config):
    out["test_all_items"] = dict(trainer.evaluate(test, load_best_model=False, show_progress=False))
print(json.dumps(out, default=float))
