#!/usr/bin/env bash
# Issue #22: the claims grids under one budget (every row: RecBole's 300 epochs, patience 10), resumable:
# rerunning the same command keeps finished rows and resumes a cut-short run from its last epoch.
set -e
cd /work/exp2
PY=/work/main/.venv/bin/python
$PY run_hydrarec.py claims --dataset ml-100k --seeds 3 --jobs 2 --threads 1 --batch-sizes 128 \
    --output /work/results/ml-100k-claims-one-budget
$PY run_hydrarec.py claims --dataset lastfm --data_path=../shared/datasets \
    "--load_col={'inter': ['user_id', 'item_id', 'timestamp']}" --seeds 3 --jobs 2 --threads 1 --batch-sizes 128 \
    --output /work/results/lastfm-claims-one-budget
