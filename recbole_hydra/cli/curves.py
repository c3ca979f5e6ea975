"""`run_hydrarec.py curves`: validation score against training time, from RecBole's log files.

What is read and drawn: experiments/reports/curves.py.
"""

import os

from recbole_hydra.cli.args import command_line, command_parser
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


def _runs(specs):
    runs = {}
    for spec in specs:
        label, _, files = spec.partition("=")
        paths = [path for path in files.split(",") if path]
        if not label or not paths:
            raise ConfigError(f"option --run: expected LABEL=LOG[,LOG...], got {spec!r}")
        for path in paths:
            if not os.path.isfile(path):
                raise ConfigError(f"option --run: log file not found: {path}")
        runs[label] = paths
    return runs


def run(argv):
    args = parser().parse_args(argv)
    curves = {label: read_curve(paths) for label, paths in _runs(args.run).items()}
    empty = [label for label, curve in curves.items() if not curve]
    if empty:
        raise ConfigError(f"option --run: no evaluated epoch in the logs of {', '.join(empty)}")
    csv_path = os.path.splitext(args.output)[0] + ".csv"
    write_curves(curves, args.output, csv_path, args.title)
    print(f"wrote {args.output} and {csv_path}  ({command_line('curves', argv)})")
    return 0
