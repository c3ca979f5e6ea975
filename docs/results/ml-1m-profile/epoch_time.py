"""A/B: time one training epoch and one validation pass of ml-1m at N=200 (causal HydraRec, dropout 0.2, 32 windows,
1 thread) with the recbole_hydra of the checkout given as argv[1]; argv[2] is the mixer. Run from the repository root:
    git worktree add --detach ../old 0a5b939 && python docs/results/ml-1m-profile/epoch_time.py ../old hydra
    python docs/results/ml-1m-profile/epoch_time.py . hydra"""
import sys, time, torch
sys.path.insert(0, sys.argv[1])
import recbole_hydra
from recbole_hydra.runtime.config import build_config
from recbole_hydra.runtime.training import prepare
from recbole.utils import get_trainer
torch.set_num_threads(1)
attention = sys.argv[2]
cfg = build_config("HydraRec", "ml-1m", overrides={"data_path": "../shared/datasets", "MAX_ITEM_LIST_LENGTH": 200,
    "load_col": {"inter": ["user_id", "item_id", "timestamp"]}, "attention": attention, "hidden_dropout_prob": 0.2,
    "attn_dropout_prob": 0.2, "show_progress": False, "state": "ERROR", "checkpoint_dir": "/tmp/epochtime"})
model, train, valid, test = prepare(cfg)
trainer = get_trainer(cfg["MODEL_TYPE"], cfg["model"])(cfg, model)
t0 = time.perf_counter(); trainer._train_epoch(train, 0); t1 = time.perf_counter()
trainer._valid_epoch(valid); t2 = time.perf_counter()
print(f"{recbole_hydra.__file__} {attention} epoch {t1 - t0:.1f} s, validation {t2 - t1:.1f} s", flush=True)
