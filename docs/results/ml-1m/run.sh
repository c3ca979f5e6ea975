#!/bin/bash
# ml-1m at N = 200, HydraRec causal and bidirectional with the defaults (causal: 32 windows a batch,
# bidirectional: 128), whole-sequence scheme, seed 2020, side by side with 1 torch thread each,
# each capped at one hour of training (train_time_budget).
cd "$(dirname "$0")/../../.."
exec python ./run_hydrarec.py compare --dataset ml-1m --data_path=../shared/datasets \
  --models HydraRec:causal HydraRec:bidirectional --seeds 1 --jobs 2 --threads 1 --output results/ml-1m \
  --MAX_ITEM_LIST_LENGTH=200 "--load_col={'inter': ['user_id', 'item_id', 'timestamp']}" --train_time_budget=3600
