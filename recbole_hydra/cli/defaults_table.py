"""`run_hydrarec.py defaults-table`: every candidate default on every dataset, from compare's result folders.

What is read and how cells are formed: experiments/reports/defaults_report.py.
"""

import os

from recbole_hydra.cli.args import command_line, command_parser, labelled_paths
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


def run(argv):
    args = parser().parse_args(argv)
    folders = labelled_paths(args.results, "--results", "DATASET=FOLDER[,FOLDER...]", os.path.isdir, "not a folder")
    md_path, csv_path = write_candidates_report(folders, args.output)
    print(f"wrote {md_path} and {csv_path}  ({command_line('defaults-table', argv)})")
    return 0
