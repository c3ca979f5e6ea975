#!/usr/bin/env bash
# Issue #22: a claims grid under one budget (16 rows x 3 seeds, RecBole's peers included) on one H200, inside
# one lease of at most 10 minutes. Run from the repository root on the lent machine. This folder's table:
#   bash docs/results/ml-100k-claims-h200/run_on_h200.sh
# Another dataset, carried in gpu_data/<name>/<name>.inter (extra arguments go to `claims`):
#   DATASET=lastfm bash docs/results/ml-100k-claims-h200/run_on_h200.sh --data_path=gpu_data \
#     "--load_col={'inter': ['user_id', 'item_id', 'timestamp']}"
#
# The budget, the same for every row: at most 300 epochs, validation every epoch, stop after 11 validations
# without progress (RecBole's defaults), and at most TIME_BUDGET seconds of training per run, so that every
# run ends inside the lease and says what ended it (early stopping or "time budget").
#
# ../h200_env.sh installs RecBole there from the carried .whl/ and .raystub/ (it says how to make them).
# ml-100k ships in RecBole's wheel.
#
# The output goes under results/, which .gitignore names: the device tool keeps ignored paths on a warm
# machine between calls, so a second call resumes (res/, ignored only in .git/info/exclude, lost its CSV
# while saved/ and log/ survived). FROM=<a committed results folder> starts from its finished rows (its
# CSV and configs), so that only the missing runs train.
#
# Its finished causal rows ran before `local_window: 3` became the causal default (f17304b). With later code
# the grid's causal rows resolve to other settings, and compare refuses the folder (it names the runs): to fill
# the missing runs, run this from a copy of the tree at bb05f05 (the model code those rows ran, plus the causal
# term's code, off by default there).
set -u
OUT=${OUT:-out}; mkdir -p "$OUT"
DATASET=${DATASET:-ml-100k}
RES=results/$DATASET-claims-h200
if [ -n "${FROM:-}" ] && [ ! -e "$RES/comparison.csv" ]; then
  mkdir -p "$RES" && cp "$FROM/comparison.csv" "$RES/" && cp -r "$FROM/configs" "$RES/"
fi
TIME_BUDGET=${TIME_BUDGET:-200}
DEADLINE=${DEADLINE:-500}  # seconds, then SIGINT: compare keeps every finished row
JOBS=${JOBS:-16}
source docs/results/h200_env.sh "$OUT/machine-$DATASET.txt"

timeout -k 30 -s INT "$DEADLINE" python3 run_hydrarec.py claims --dataset "$DATASET" --seeds 3 --jobs "$JOBS" --threads 1 \
  --batch-sizes 128 --train_time_budget="$TIME_BUDGET" --output "$RES" "$@" > "$OUT/console-$DATASET.txt" 2>&1
echo "claims exit $?" >> "$OUT/console-$DATASET.txt"
tar czf "$OUT/results-$DATASET.tgz" --exclude='*.pth' "$RES"
