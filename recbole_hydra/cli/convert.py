"""`run_hydrarec.py convert`: a CSV/TSV of user, item, timestamp rows into RecBole atomic files."""

from recbole_hydra.cli.args import command_line, command_parser, positive_int_arg
from recbole_hydra.data.csv_to_atomic import convert
from recbole_hydra.data.inter_checks import MIN_SEQUENTIAL_INTERACTIONS


def parser():
    p = command_parser(
        prog="run_hydrarec.py convert",
        description="Convert a CSV/TSV of user, item, timestamp rows into RecBole atomic files "
        "OUT/NAME/NAME.inter and OUT/NAME/NAME.yaml. Other columns are left out.",
    )
    p.add_argument("input", help="the CSV/TSV file, with a header line unless --names is given")
    p.add_argument("name", help="dataset name: train with --dataset NAME --config_files OUT/NAME/NAME.yaml")
    p.add_argument("--out", default="dataset", help="folder that gets NAME/ (default: dataset)")
    p.add_argument("--user-col", default="user_id", help="column that holds the user id (default: user_id)")
    p.add_argument("--item-col", default="item_id", help="column that holds the item id (default: item_id)")
    p.add_argument("--time-col", default="timestamp", help="column that orders a user's items (default: timestamp)")
    p.add_argument(
        "--sep",
        default="auto",
        help="column separator: a character, or tab, comma, semicolon, pipe, space; default: "
        "from the extension (.csv: comma, .tsv: tab), else from the header line",
    )
    p.add_argument("--names", help="comma-separated column names, for an input without a header line")
    p.add_argument(
        "--time-format",
        metavar="FORMAT",
        help="strptime format of text timestamps, e.g. '%%Y-%%m-%%d %%H:%%M:%%S' (read as UTC); "
        "default: timestamps are numbers",
    )
    p.add_argument("--encoding", default="utf-8-sig", help="input encoding (default: utf-8, with or without BOM)")
    p.add_argument(
        "--min-user-interactions",
        type=positive_int_arg,
        metavar="N",
        help="drop users with fewer than N interactions (default: refuse users with fewer than "
        f"{MIN_SEQUENTIAL_INTERACTIONS})",
    )
    p.add_argument("--force", action="store_true", help="replace existing output files")
    return p


def run(argv):
    args = parser().parse_args(argv)
    args.command = command_line("convert", argv)  # recorded in the dataset's yaml
    inter, settings, summary, dropped = convert(args)  # a ConfigError: one line and exit 2 (cli.main)
    note = f", dropped {dropped} users with fewer than {args.min_user_interactions} interactions" if dropped else ""
    print(f"wrote {inter}: {summary.interactions} interactions, {summary.users} users, {summary.items} items{note}")
    print(f"train with: python run_hydrarec.py --dataset {args.name} --config_files {settings}")
    return 0
