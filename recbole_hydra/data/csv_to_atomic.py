"""Convert a plain CSV/TSV of (user, item, timestamp) rows into RecBole atomic files.

    python run_hydrarec.py convert ratings.csv mydata --user-col userId --item-col movieId

writes `dataset/mydata/mydata.inter` (RecBole's format) and `dataset/mydata/mydata.yaml` (the
settings RecBole needs to load it), after the same checks the CLI runs on atomic files. The
input is read twice (check, then write) and never held in memory; outputs are written to a
temporary file, checked again, and renamed into place, so a failed or interrupted conversion
leaves nothing half-written, and an existing output is replaced only with --force.
"""

import calendar
import csv
import json
import os
import re
import time
from datetime import datetime

from recbole_hydra.config_errors import ConfigError
from recbole_hydra.data.inter_checks import (
    MIN_SEQUENTIAL_INTERACTIONS,
    DatasetError,
    InterSpec,
    check_inter_file,
    sparse_users_message,
    timestamp_problem,
    token_problem,
    undecodable_line,
    validation_needs,
)
from recbole_hydra.files import replaced_atomically

OUTPUT_FIELDS = ("user_id", "item_id", "timestamp")  # RecBole's default field names
SEQUENTIAL_SPLIT = {"split": {"LS": "valid_and_test"}}  # RecBole's split for sequential models
_SEPARATORS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
_SEPARATOR_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": " "}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _separator(args, header_line):
    if args.sep != "auto":
        sep = _SEPARATOR_NAMES.get(args.sep, args.sep)
        if len(sep) != 1:
            raise ConfigError(
                f"option --sep: expected one character or tab, comma, semicolon, pipe, space; got {args.sep!r}"
            )
        return sep
    ext = os.path.splitext(args.input)[1].lower()
    if ext in _SEPARATORS:
        return _SEPARATORS[ext]
    return next((sep for sep in ("\t", ",", ";", "|") if sep in header_line), ",")


class _Columns:
    """Where the user, item and time columns are, from the header (or --names)."""

    def __init__(self, args, rows, path):
        if args.names:
            self.names = [name.strip() for name in args.names.split(",")]
        else:
            self.names = next(rows, None)
            if self.names is None:
                raise DatasetError(
                    f"{path}: empty file; expected a header line naming the columns (or --names for a file without one)"
                )
        wanted = (("--user-col", args.user_col), ("--item-col", args.item_col), ("--time-col", args.time_col))
        for option, name in wanted:
            if name not in self.names:
                where = "--names" if args.names else f"{path} line 1"
                raise DatasetError(
                    f"{where}: no column {name!r} (option {option}); found {', '.join(map(repr, self.names))}"
                )
        self.user, self.item, self.time = (self.names.index(name) for _, name in wanted)


def _posix_seconds(text, time_format):
    """A timestamp as the text RecBole will read: numbers unchanged, dates as seconds since 1970 (UTC)."""
    if time_format is None:
        return text.strip()
    parsed = datetime.strptime(text.strip(), time_format)
    seconds = calendar.timegm(parsed.utctimetuple()) + parsed.microsecond / 1e6
    return str(int(seconds)) if seconds == int(seconds) else repr(seconds)


def _rows(args, path, sep):
    """(line number, user, item, timestamp text) for each data row, checked."""
    with open(path, encoding=args.encoding, newline="") as f:
        reader = csv.reader(f, delimiter=sep)
        columns = _Columns(args, reader, path)
        for row in reader:
            if not row:
                continue  # blank line
            line = reader.line_num
            if len(row) != len(columns.names):
                raise DatasetError(
                    f"{path} line {line}: {len(row)} columns, expected {len(columns.names)} "
                    f"({', '.join(columns.names)}) separated by {sep!r}"
                )
            user, item, stamp = row[columns.user], row[columns.item], row[columns.time]
            for option, name, value in (("--user-col", args.user_col, user), ("--item-col", args.item_col, item)):
                problem = token_problem(value) or (
                    "holds a tab or line break, which would split the output's columns"
                    if any(c in value for c in "\t\r\n")
                    else None
                )
                if problem:
                    raise DatasetError(f"{path} line {line}: {name} ({option}) {problem}; expected an id")
            try:
                stamp = _posix_seconds(stamp, args.time_format)
            except ValueError:
                raise DatasetError(
                    f"{path} line {line}: {args.time_col} is {stamp!r}; expected a time in "
                    f"--time-format {args.time_format!r}"
                ) from None
            problem = timestamp_problem(stamp)
            if problem:
                hint = "" if args.time_format else " (use --time-format for dates)"
                raise DatasetError(
                    f"{path} line {line}: {args.time_col} (--time-col) {problem}; expected a "
                    f"number that orders the interactions{hint}"
                )
            yield line, user, item, stamp


def _kept_users(args, path, sep):
    """Pass 1: check every row; return the users to keep and how many were dropped."""
    counts, first_line = {}, {}
    for line, user, *_ in _rows(args, path, sep):
        counts[user] = counts.get(user, 0) + 1
        first_line.setdefault(user, line)
    if not counts:
        raise DatasetError(f"{path}: no interactions after the header line; expected one interaction per line")
    minimum = args.min_user_interactions or MIN_SEQUENTIAL_INTERACTIONS
    sparse = [user for user, count in counts.items() if count < minimum]
    if sparse and args.min_user_interactions is None:
        user = sparse[0]
        fix = f"drop them with --min-user-interactions {MIN_SEQUENTIAL_INTERACTIONS}"
        raise DatasetError(
            sparse_users_message(path, first_line[user], user, counts[user], len(sparse) - 1, minimum, fix)
        )
    if len(sparse) == len(counts):
        raise DatasetError(
            f"{path}: every user has fewer than {minimum} interactions (--min-user-interactions); "
            "expected some users to keep"
        )
    most, needed = max(counts.values()), validation_needs(SEQUENTIAL_SPLIT, sequential=True)
    if most < needed:
        raise DatasetError(
            f"{path}: no user has {needed} interactions (the most is {most}); RecBole's leave-one-out "
            f"split for sequential models needs {needed} for a user to reach the validation set"
        )
    return set(counts) - set(sparse), len(sparse)


def _write_atomically(path, write, check=None):
    """Write through `write(file)` into a temporary file beside `path`, check it, then rename it."""
    with replaced_atomically(path) as temporary:
        with open(temporary, "w", encoding="utf-8", newline="\n") as f:
            write(f)
        if check:
            check(temporary)


def convert(args):
    """Check the input, then write OUT/NAME/NAME.inter and NAME.yaml.

    `args`: the options of `run_hydrarec.py convert` (cli/convert.py), as argparse gives them, and
    `args.command`, the command line recorded in NAME.yaml.
    Returns (.inter path, .yaml path, InterSummary of the output, number of users dropped).
    """
    if not _NAME.fullmatch(args.name):
        raise ConfigError(f"dataset name {args.name!r}: expected letters, digits, '_', '.' or '-' (it names files)")
    if not os.path.isfile(args.input):
        raise DatasetError(f"{args.input}: file not found; expected a CSV/TSV of user, item, timestamp rows")
    with open(args.input, encoding=args.encoding, errors="replace") as f:
        sep = _separator(args, f.readline())
    folder = os.path.join(args.out, args.name)
    inter, settings = os.path.join(folder, f"{args.name}.inter"), os.path.join(folder, f"{args.name}.yaml")
    for path in (inter, settings):
        if os.path.exists(path) and not args.force:
            raise ConfigError(f"{path} already exists; expected a new dataset name, or --force to replace it")
    try:
        keep, dropped = _kept_users(args, args.input, sep)
    except UnicodeDecodeError:
        raise DatasetError(
            f"{args.input} line {undecodable_line(args.input, args.encoding)}: not valid "
            f"{args.encoding} text; expected --encoding to name the file's encoding"
        ) from None

    def write_inter(f):
        f.write("\t".join(f"{name}:{kind}" for name, kind in zip(OUTPUT_FIELDS, ("token", "token", "float"))) + "\n")
        for _, user, item, stamp in _rows(args, args.input, sep):
            if user in keep:
                f.write(f"{user}\t{item}\t{stamp}\n")

    summary = {}

    def recheck(path):  # the CLI's own checks, on exactly what will be renamed into place
        spec = InterSpec(
            encoding="utf-8",
            min_user_interactions=args.min_user_interactions or MIN_SEQUENTIAL_INTERACTIONS,
            eval_min_interactions=validation_needs(SEQUENTIAL_SPLIT, sequential=True),
        )
        summary["file"] = check_inter_file(path, spec)

    def write_settings(f):
        f.write(
            f"# RecBole settings for {args.name}, converted from {args.input} on "
            f"{time.strftime('%Y-%m-%d')} by: {args.command}\n"
            f"data_path: {json.dumps(os.path.abspath(args.out))}  # the folder that holds {args.name}/\n"
            f"load_col: {{inter: [{', '.join(OUTPUT_FIELDS)}]}}  # RecBole loads only user and item by default\n"
        )

    os.makedirs(folder, exist_ok=True)
    _write_atomically(inter, write_inter, recheck)
    _write_atomically(settings, write_settings)
    return inter, settings, summary["file"], dropped
