"""Convert a CSV/TSV of user, item, timestamp rows into RecBole atomic files: `python dataset/convert.py -h`.

The same as `python run_hydrarec.py convert ...`; kept beside the datasets it writes.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))  # run from a checkout

from recbole_hydra.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["convert", *sys.argv[1:]]))
