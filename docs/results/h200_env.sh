# Sourced by the run_on_h200.sh scripts of docs/results/: RecBole on the lent H200 machine.
# Usage: source docs/results/h200_env.sh MACHINE_FILE
#
# The machine has Python 3.12 with numpy 2 and torch, and no network. The call carries (`carry`):
# - .whl/: pandas 2.3.3, recbole 1.2.1, colorlog, texttable, wcwidth, pytz, tzdata, made here with
#   `pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp
#   --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .whl NAME` for each;
# - .raystub/: ray/__init__.py empty and ray/tune/__init__.py with a module __getattr__ that raises
#   AttributeError. RecBole's quick_start imports ray.tune at module level, ray 2.6.3 has no Python 3.12
#   wheel, and nothing run there trains through Ray.
# RecBole 1.2.1's Config aliases numpy scalar names that numpy 2 removed: the sed points them at their
# numpy 2 names (the same types). MACHINE_FILE gets the GPU, core count and package versions.
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
sed -i 's/np\.float_$/np.float64/; s/np\.complex_$/np.complex128/; s/np\.unicode_$/np.str_/' /tmp/site/recbole/config/configurator.py
export PYTHONPATH=/tmp/site:$PWD/.raystub
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  nproc
  python3 -c "import sys,torch,numpy,pandas,scipy,recbole;print(sys.version.split()[0],'torch',torch.__version__,'cuda',torch.cuda.is_available(),'numpy',numpy.__version__,'pandas',pandas.__version__,'scipy',scipy.__version__,'recbole',recbole.__version__)"
} 2>&1 | tee "$1"
