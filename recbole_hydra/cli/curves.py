"""`run_hydrarec.py curves`: validation score against training time, from RecBole's log files.

What is read and drawn: experiments/reports/curves.py.
"""

import os

from recbole_hydra.cli.args import command_line, command_parser, labelled_paths
from recbole_hydra.config_errors import ConfigError
from recbole_hydra.experiments.reports.curves import read_curve, write_curves


def parser():
    p = command_parser(
        prog="run_hydrarec.py curves",
        description="Plot each run's validation score against its cumulative training seconds, read from "
        "RecBole's log files (log/<Model>/*.log). One --run per curve: LABEL=LOG[,LOG...] (several files, in "
        "order, for a run that was resumed).",
    )
    p.add_argument("--run", action="append", required=True, metavar="LABEL=LOG[,LOG]", help="a curve and its logs")
    p.add_argument("--title", default="Validation score against training time", help="the plot's title")
    p.add_argument("--output", required=True, metavar="PNG", help="the plot; the points go beside it as .csv")
    return p


def run(argv):
    args = parser().parse_args(argv)
    runs = labelled_paths(args.run, "--run", "LABEL=LOG[,LOG...]", os.path.isfile, "log file not found")
    curves = {label: read_curve(paths) for label, paths in runs.items()}
    empty = [label for label, curve in curves.items() if not curve]
    if empty:
        raise ConfigError(f"option --run: no evaluated epoch in the logs of {', '.join(empty)}")
    csv_path = os.path.splitext(args.output)[0] + ".csv"
    write_curves(curves, args.output, csv_path, args.title)
    print(f"wrote {args.output} and {csv_path}  ({command_line('curves', argv)})")
    return 0
