#!/bin/bash
# Regenerates docs/results/defaults-table.md and .csv (docs/training.md, "Defaults across data")
# from the committed result folders; run from the repository root (OUT=path.md writes elsewhere).
set -e
PYTHON=${PYTHON:-python}
R=docs/results
$PYTHON run_hydrarec.py defaults-table \
    --results ml-100k=$R/candidates-ml-100k,$R/defaults-ml-100k,$R/candidates-ml-100k-local,$R/candidates-ml-100k-bidir-floor \
    --results lastfm=$R/candidates-lastfm,$R/defaults-lastfm,$R/candidates-lastfm-prefix,$R/candidates-lastfm-local,$R/candidates-lastfm-bidir-floor \
    --results toys=$R/toys-probe,$R/defaults-toys,$R/candidates-toys,$R/candidates-toys-local,$R/candidates-toys-bidir,$R/candidates-toys-bidir-bylength,$R/candidates-toys-bidir-floor \
    "--results=toys, RecBole budget=$R/toys-causal-one-budget,$R/candidates-toys-prefix" \
    "--results=ml-1m, N 200, unseen items=$R/ml-1m-n200,$R/ml-1m-n200-local" \
    --output ${OUT:-$R/defaults-table.md}
