# ml-1m N=200 epoch profile, the layers skipping padding (today's default model: local term) with the dense preset: Hydra and the
# softmax control, one torch thread, quiet machine (training runs stopped first). Run from anywhere.
cd "$(dirname "$0")/../../.."   # the project root
for mixer in hydra softmax; do
  .venv/bin/python run_hydrarec.py profile --dataset ml-1m --data_path=../shared/datasets \
    "--load_col={'inter': ['user_id', 'item_id', 'timestamp']}" --MAX_ITEM_LIST_LENGTH=200 \
    --config_files properties/presets/dense.yaml --attention=$mixer --exclude_seen=True \
    --state=ERROR --batches 10 --threads 1 --output docs/results/ml-1m-profile-real/$mixer
done
