"""Train, compare, tune and benchmark HydraRec and RecBole's models. `python run_hydrarec.py -h`."""

import sys

import recbole_hydra  # noqa: F401  registers HydraRec with RecBole
from recbole_hydra.cli import main

if __name__ == "__main__":
    sys.exit(main())
