#!/bin/bash
# Peak RSS of one short bidirectional run on ml-100k at N = 200, before and after training started
# handing glibc's freed heap back to the OS after each epoch and evaluation (runtime/memory.py).
# From the repository root: bash docs/results/heap-trim-ab/run.sh   (about 25 minutes on 2 cores)
# BEFORE is the last commit without the trim; PYTHON the project's interpreter.
set -euo pipefail
BEFORE=${BEFORE:-3cdf584}
PYTHON=${PYTHON:-$PWD/.venv/bin/python}
OUT=${OUT:-results/heap-trim-ab}
ARGS=(--dataset ml-100k --MAX_ITEM_LIST_LENGTH=200 --exclude_seen=True --epochs=5 --stopping_step=10
      --show_progress=False --seeds 1 --jobs 1 --threads 1
      --models HydraRec:bidirectional:cloze_copies=0:cloze_copies_by_length=False:hidden_dropout_prob=0.2:attn_dropout_prob=0.2)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
before_tree=$(mktemp -d)
git worktree add --detach "$before_tree" "$BEFORE" > /dev/null
trap 'git worktree remove --force "$before_tree"' EXIT
(cd "$before_tree" && "$PYTHON" run_hydrarec.py compare "${ARGS[@]}" --checkpoint_dir="$OUT/saved" --output "$OUT/before")
"$PYTHON" run_hydrarec.py compare "${ARGS[@]}" --checkpoint_dir="$OUT/saved" --output "$OUT/after"
"$PYTHON" - "$OUT" <<'PY'
import csv, sys
rows = {side: next(csv.DictReader(open(f"{sys.argv[1]}/{side}/comparison.csv"))) for side in ("before", "after")}
print("| code | peak RSS (MB) | s / epoch | valid NDCG@10 | test NDCG@10 |")
print("|---|---|---|---|---|")
for side, row in rows.items():
    print(f"| {side} | {float(row['peak_memory_mb']):,.0f} | {float(row['train_seconds_per_epoch']):.0f} "
          f"| {row['valid_ndcg@10']} | {row['test_ndcg@10']} |")
PY
