#!/usr/bin/env bash
# The ml-1m N = 200 table of docs/results/ml-1m-n200, rerun on one H200 with all four rows and
# three seeds side by side, under the CPU table's budget (at most 200 epochs, stop after 11
# validations without progress), inside one lease of at most 10 minutes. Run from the repo root.
#
# ../h200_env.sh installs RecBole there from the carried .whl/ and .raystub/ (it says how to make them
# and why). The call also carries gpu_data/ml-1m/ (a copy
# of ../shared/datasets/ml-1m/ml-1m.inter). Whatever is unfinished at the deadline is stopped
# (SIGINT: compare records what finished), and each unfinished run's best checkpoint is tested
# with evaluate_best.py, as the CPU table's interim rows were.
set -u
OUT=${OUT:-out}; mkdir -p "$OUT"
COMPARE_SECONDS=${COMPARE_SECONDS:-450}
source docs/results/h200_env.sh "$OUT/machine.txt"

timeout -k 30 -s INT "$COMPARE_SECONDS" python3 run_hydrarec.py compare --dataset ml-1m --data_path=gpu_data \
  "--load_col={'inter': ['user_id', 'item_id', 'timestamp']}" --MAX_ITEM_LIST_LENGTH=200 --exclude_seen=True \
  --epochs=200 --stopping_step=10 \
  --models HydraRec:causal:hidden_dropout_prob=0.2:attn_dropout_prob=0.2 \
           HydraRec:causal:attention=softmax:hidden_dropout_prob=0.2:attn_dropout_prob=0.2 \
           HydraRec:bidirectional HydraRec:bidirectional:attention=softmax \
  --seeds 3 --jobs 12 --threads 1 --output res > "$OUT/console.txt" 2>&1
echo "compare exit $?" >> "$OUT/console.txt"

# Unfinished runs keep a -last.json beside their best checkpoint: test that best checkpoint.
for last in res/saved/*-last.json; do
  [ -e "$last" ] || continue
  best="${last%-last.json}.pth"
  name=$(basename "${last%-last.json}")
  python3 docs/results/ml-1m-n200/evaluate_best.py . "$best" > "res/interim-$name.json" 2> "res/interim-$name.err" &
done
wait
tar czf "$OUT/results.tgz" --exclude='*.pth' res
ls -la res res/saved >> "$OUT/console.txt"
