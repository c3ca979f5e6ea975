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
# The lent machine has Python 3.12 with numpy 2 and torch, and no network. The call carries (`carry`):
# - .whl/: pandas 2.3.3, recbole 1.2.1, colorlog, texttable, wcwidth, pytz, tzdata, made here with
#   `pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp
#   --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .whl NAME` for each;
# - .raystub/: ray/__init__.py empty and ray/tune/__init__.py with a module __getattr__ that raises
#   AttributeError. RecBole's quick_start imports ray.tune at module level, ray 2.6.3 has no Python 3.12
#   wheel, and nothing here trains through Ray.
# RecBole 1.2.1's Config aliases numpy scalar names that numpy 2 removed: the sed points them at their
# numpy 2 names (the same types). ml-100k ships in RecBole's wheel.
#
# The output goes under results/, which .gitignore names: the device tool keeps ignored paths on a warm
# machine between calls, so a second call resumes (res/, ignored only in .git/info/exclude, lost its CSV
# while saved/ and log/ survived). FROM=<a committed results folder> starts from its finished rows (its
# CSV and configs), so that only the missing runs train.
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
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
sed -i 's/np\.float_$/np.float64/; s/np\.complex_$/np.complex128/; s/np\.unicode_$/np.str_/' /tmp/site/recbole/config/configurator.py
export PYTHONPATH=/tmp/site:$PWD/.raystub
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  nproc
  python3 -c "import sys,torch,numpy,pandas,scipy,recbole;print(sys.version.split()[0],'torch',torch.__version__,'cuda',torch.cuda.is_available(),'numpy',numpy.__version__,'pandas',pandas.__version__,'scipy',scipy.__version__,'recbole',recbole.__version__)"
} 2>&1 | tee "$OUT/machine-$DATASET.txt"

timeout -k 30 -s INT "$DEADLINE" python3 run_hydrarec.py claims --dataset "$DATASET" --seeds 3 --jobs "$JOBS" --threads 1 \
  --batch-sizes 128 --train_time_budget="$TIME_BUDGET" --output "$RES" "$@" > "$OUT/console-$DATASET.txt" 2>&1
echo "claims exit $?" >> "$OUT/console-$DATASET.txt"
tar czf "$OUT/results-$DATASET.tgz" --exclude='*.pth' "$RES"
