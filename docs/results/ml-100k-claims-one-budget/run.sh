#!/usr/bin/env bash
# Issue #22: the claims grids under one budget (every row: RecBole's 300 epochs, patience 10), resumable:
# rerunning keeps finished rows and resumes a cut-short run from its last epoch.
# Run from the repository root. OUT: where the folders go (this machine used /work/results);
# DATA: the folder holding lastfm (../shared/datasets here).
set -e
OUT=${OUT:-/work/results}
DATA=${DATA:-../shared/datasets}
PY=${PYTHON:-python}
$PY run_hydrarec.py claims --dataset ml-100k --seeds 3 --jobs 2 --threads 1 --batch-sizes 128 \
    --output "$OUT/ml-100k-claims-one-budget"
$PY run_hydrarec.py claims --dataset lastfm --data_path="$DATA" \
    "--load_col={'inter': ['user_id', 'item_id', 'timestamp']}" --seeds 3 --jobs 2 --threads 1 --batch-sizes 128 \
    --output "$OUT/lastfm-claims-one-budget"
