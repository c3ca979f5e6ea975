"""`run_hydrarec.py defaults-table`: every candidate default on every dataset, from compare's result folders.

What is read and how cells are formed: experiments/reports/defaults_report.py.
"""

import os

from recbole_hydra.cli.args import command_line, command_parser
from recbole_hydra.config_errors import ConfigError
from recbole_hydra.experiments.reports.defaults_report import write_candidates_report


def parser():
    p = command_parser(
        prog="run_hydrarec.py defaults-table",
        description="One table of candidate settings (rows) against datasets (columns): validation NDCG@10, "
        "test in brackets, the change over the defaults. One --results per dataset column: "
        "DATASET=FOLDER[,FOLDER...], result folders of compare that share one training budget and ranking.",
    )
    p.add_argument("--results", action="append", required=True, metavar="DATASET=FOLDER[,FOLDER]")
    p.add_argument("--output", required=True, metavar="MD", help="the table; its rows go beside it as .csv")
    return p


def _folders(specs):
    folders = {}
    for spec in specs:
        dataset, _, paths = spec.partition("=")
        paths = [path for path in paths.split(",") if path]
        if not dataset or not paths:
            raise ConfigError(f"option --results: expected DATASET=FOLDER[,FOLDER...], got {spec!r}")
        missing = [path for path in paths if not os.path.isdir(path)]
        if missing:
            raise ConfigError(f"option --results: not a folder: {', '.join(missing)}")
        folders.setdefault(dataset, []).extend(paths)
    return folders


def run(argv):
    args = parser().parse_args(argv)
    md_path, csv_path = write_candidates_report(_folders(args.results), args.output)
    print(f"wrote {md_path} and {csv_path}  ({command_line('defaults-table', argv)})")
    return 0
