"""What many tests share: tiny RecBole settings, and a small learnable dataset written on the fly
(seconds per run instead of ml-100k's tens)."""

import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the checkout: run_hydrarec.py, properties/
FIXTURES = os.path.join(REPO, "tests", "fixtures")  # files the tests read: broken and good .inter, old checkpoints

# Small enough for 2 CPU cores: one epoch on ml-100k with short histories takes seconds.
TINY = {
    "hidden_size": 16,
    "inner_size": 32,
    "n_layers": 1,
    "MAX_ITEM_LIST_LENGTH": 10,
    "epochs": 1,
    "eval_batch_size": 4096,
    "show_progress": False,
    "state": "ERROR",
    "metrics": ["Hit", "NDCG"],
    "topk": [10],
    "valid_metric": "NDCG@10",
    "use_gpu": False,
}


SETTINGS = {  # what RecBole needs for a dataset that is not ml-100k (it loads only user and item by default)
    "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
}


def write_dataset(folder, name="syn", users=120, items=40, per_user=10):
    """`folder/name/name.inter`: user u walks the items in steps of 3 from its own start, so the
    next item is predictable and test metrics are well above zero after an epoch or two."""
    os.makedirs(os.path.join(folder, name), exist_ok=True)
    path = os.path.join(folder, name, f"{name}.inter")
    with open(path, "w", encoding="utf-8") as f:
        f.write("user_id:token\titem_id:token\ttimestamp:float\n")
        for user in range(users):
            for step in range(per_user):
                f.write(f"u{user}\ti{(user * 7 + step * 3) % items}\t{1000 + 10 * step + user}\n")
    return path


def overrides(folder, name="syn", **extra):
    """TINY-style settings for the synthetic dataset under `folder` (checkpoints under folder/saved)."""
    return dict(
        TINY,
        **SETTINGS,
        data_path=str(folder),
        checkpoint_dir=os.path.join(str(folder), "saved"),
        topk=[5],
        valid_metric="NDCG@5",
        **extra,
    )
