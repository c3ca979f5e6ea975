"""Test metrics of the stopped ml-1m causal run's best-validation checkpoint (epoch 34 of 35 trained)."""
import json, sys, time
import torch
torch.set_num_threads(1)
from recbole_hydra.experiments.tune import evaluate_on_test
start = time.time()
result = evaluate_on_test(sys.argv[1])
print(json.dumps({"checkpoint": sys.argv[1], "test": {k: float(v) for k, v in result.items()}, "seconds": time.time() - start}, indent=1))
