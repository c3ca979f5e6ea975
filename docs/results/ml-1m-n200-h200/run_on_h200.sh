#!/usr/bin/env bash
# The ml-1m N = 200 table of docs/results/ml-1m-n200, rerun on one H200 with all four rows and
# three seeds side by side, under the CPU table's budget (at most 200 epochs, stop after 11
# validations without progress), inside one lease of at most 10 minutes. Run from the repo root.
#
# The lent machine has Python 3.12 with numpy 2, torch, scipy 1.18 and scikit-learn (scipy 1.18
# refuses numpy 1.x), and no network. RecBole 1.2.1's Config aliases numpy's old scalar names
# (np.float = np.float_, ...), three of which numpy 2 removed: the sed after the install points
# them at their numpy 2 names (float64, complex128, str_), the same types. Ray 2.6.3 has no
# Python 3.12 wheel. So the call carries .whl/ (pandas 2.3.3, recbole 1.2.1, colorlog, texttable,
# wcwidth, pytz, tzdata), .raystub/ (a `ray` whose attributes raise: RecBole's quick_start
# imports ray.tune at module level; nothing here trains through Ray), and gpu_data/ml-1m/ (a copy
# of ../shared/datasets/ml-1m/ml-1m.inter). Whatever is unfinished at the deadline is stopped
# (SIGINT: compare records what finished), and each unfinished run's best checkpoint is tested
# with evaluate_best.py, as the CPU table's interim rows were.
set -u
OUT=${OUT:-out}; mkdir -p "$OUT"
COMPARE_SECONDS=${COMPARE_SECONDS:-450}
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
sed -i 's/np\.float_$/np.float64/; s/np\.complex_$/np.complex128/; s/np\.unicode_$/np.str_/' /tmp/site/recbole/config/configurator.py
export PYTHONPATH=/tmp/site:$PWD/.raystub
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  nproc
  python3 -c "import sys,torch,numpy,pandas,scipy,recbole;print(sys.version.split()[0],'torch',torch.__version__,'cuda',torch.cuda.is_available(),'numpy',numpy.__version__,'pandas',pandas.__version__,'scipy',scipy.__version__,'recbole',recbole.__version__)"
} 2>&1 | tee "$OUT/machine.txt"

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
