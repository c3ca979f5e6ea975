"""Convert a CSV/TSV of user, item, timestamp rows into RecBole atomic files: `python dataset/convert.py -h`."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))  # run from a checkout

from recbole_hydra.convert import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
