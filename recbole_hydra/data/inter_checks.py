"""Checks on a dataset's atomic `.inter` files, run before RecBole loads anything.

RecBole reads atomic files with pandas and, on a malformed one, fails deep inside
`create_dataset` with a traceback, or silently drops lines, or fails only after training has
started. These checks stream each file once and stop at the first problem with one line that
names the file, the line and what was expected. The converter (`recbole_hydra.data.csv_to_atomic`) uses
the same value checks on its input.

Format (RecBole's): a header line of `name:type` entries (type: token, float, token_seq,
float_seq), then one interaction per line, columns separated by `field_separator`.
"""

import math
import os
from dataclasses import dataclass
from typing import Optional

from recbole_hydra.config_errors import ConfigError

FEATURE_TYPES = ("token", "float", "token_seq", "float_seq")  # RecBole's FeatureType values
# pandas' default `na_values`: read_csv turns these strings into NaN even in a str column, and
# RecBole then drops the line, so an item whose id is "NA" silently disappears.
PANDAS_NA_STRINGS = frozenset(
    [
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    ]
)
# A sequential model learns from a user's earlier items to predict a later one: a user with a
# single interaction gives RecBole no training example at all and is silently dropped.
MIN_SEQUENTIAL_INTERACTIONS = 2
_OTHER_SEPARATORS = (",", ";", "|", "\t", " ")
_TIME_EXPECTED = "a number that orders the interactions, e.g. seconds since 1970"


class DatasetError(ConfigError):
    """Bad input data. A ConfigError so that every CLI reports it the same way: one line, exit 2."""


@dataclass(frozen=True)
class InterSpec:
    """What a `.inter` file must hold (runtime/datasets.py reads it off a RecBole Config)."""

    user_field: str = "user_id"
    item_field: str = "item_id"
    time_field: Optional[str] = "timestamp"  # None: the run does not order interactions
    separator: str = "\t"
    encoding: Optional[str] = None  # None: the locale's, as RecBole's own open() does
    load_col: Optional[tuple] = None  # the fields RecBole loads (config 'load_col'); None: all
    unload_col: tuple = ()
    user_interval: Optional[str] = None  # RecBole's user_inter_num_interval, e.g. "[2,inf)"
    min_user_interactions: int = 1
    eval_min_interactions: int = 0  # some user needs this many for a non-empty validation set

    def loads(self, field):
        return (self.load_col is None or field in self.load_col) and field not in self.unload_col


@dataclass(frozen=True)
class InterSummary:
    path: str
    interactions: int
    users: int  # after mirroring user_inter_num_interval
    items: int


def validation_needs(eval_args, sequential):
    """Interactions a user needs to reach the validation set of RecBole's leave-one-out split.

    Leave-one-out gives the last example of each user to test and the one before to validation,
    but never takes a user's only example; a sequential dataset first turns n interactions into
    n - 1 (prefix → next item) examples. So 'valid_and_test' needs 4 interactions (3 for a
    general model). Ratio splits round per user and are not mirrored here.
    """
    split = (eval_args.get("split") or {}).get("LS")
    held_out = {"valid_and_test": 2, "valid_only": 1}.get(split)
    return 0 if held_out is None else held_out + 1 + (1 if sequential else 0)


# ----- values: shared with the converter --------------------------------------------------


def token_problem(value):
    """Why `value` is not a usable user/item id, or None."""
    if value == "":
        return "is empty"
    if value in PANDAS_NA_STRINGS:
        return f"is {value!r}, which pandas reads as a missing value (RecBole then drops the line)"
    if value.startswith('"'):
        return f"is {value!r}: pandas reads a leading double quote as the start of a quoted field"
    return None


def timestamp_problem(value):
    """Why `value` cannot order interactions, or None."""
    try:
        number = float(value)
    except ValueError:
        return f"is {value!r}, not a number"
    if not math.isfinite(number):
        return f"is {value!r}, not a finite number"
    return None


def float_problem(value):
    """Why `value` cannot be read into a float column, or None (empty: RecBole fills the mean)."""
    if value == "" or value in PANDAS_NA_STRINGS:
        return None
    try:
        float(value)
    except ValueError:
        return f"is {value!r}, not a number"
    return None


def parse_intervals(text):
    """RecBole's interval syntax, "[2,inf)" or "[2,10];(20,30]", as (left, low, high, right) tuples."""
    if text is None:
        return None
    intervals = []
    for part in str(text).split(";"):
        part = part.strip()
        try:
            low, high = (float(end) for end in part[1:-1].split(","))
            if part[0] not in "([" or part[-1] not in ")]":
                raise ValueError(part)
        except ValueError:
            raise ConfigError(
                f"config key 'user_inter_num_interval' has {part!r}; expected an interval like \"[2,inf)\""
            ) from None
        intervals.append((part[0], low, high, part[-1]))
    return intervals


def within(count, intervals):
    """True if `count` lies in any interval (RecBole keeps the user), or there are none."""
    if not intervals:
        return True
    return any(
        (count >= low if left == "[" else count > low) and (count <= high if right == "]" else count < high)
        for left, low, high, right in intervals
    )


def sparse_users_message(path, line, user, count, others, minimum, fix):
    """The one line for users with too few interactions; the converter shares it."""
    more = f" ({others} more user{'s' if others != 1 else ''} too)" if others else ""
    return (
        f"{path} line {line}: user {user!r} has {count} interaction{'s' if count != 1 else ''}{more}; "
        f"expected at least {minimum} per user (a sequential model predicts a user's next item from "
        f"earlier ones, and RecBole silently drops a user with one): {fix}"
    )


# ----- one file ---------------------------------------------------------------------------


def _header_fields(path, line, spec):
    """{name: type} from the header line, checked against `spec`."""
    if not line:
        columns = [f"{spec.user_field}:token", f"{spec.item_field}:token"]
        columns += [f"{spec.time_field}:float"] if spec.time_field else []
        raise DatasetError(
            f"{path}: empty file; expected a header line {', '.join(columns)} separated by {spec.separator!r}"
        )
    text = line.rstrip("\n")
    where = f"{path} line 1"
    if text.startswith("\ufeff"):
        raise DatasetError(
            f"{where}: starts with a byte-order mark, which RecBole reads as part of the first "
            "column name; expected the file saved without BOM (or config encoding: utf-8-sig)"
        )
    fields = {}
    for position, entry in enumerate(text.split(spec.separator), start=1):
        name, colon, ftype = entry.partition(":")
        if not name or not colon or ":" in ftype:
            hint = ""
            if spec.separator not in text:
                found = next((sep for sep in _OTHER_SEPARATORS if sep in text), None)
                if found:
                    hint = (
                        f" separated by {spec.separator!r}; the header has no {spec.separator!r} but has "
                        f"{found!r}: set field_separator, or convert the file with dataset/convert.py"
                    )
            raise DatasetError(f"{where}: column {position} is {entry!r}; expected name:type{hint}")
        if ftype not in FEATURE_TYPES:
            raise DatasetError(
                f"{where}: column {name!r} has type {ftype!r}; expected one of {', '.join(FEATURE_TYPES)}"
            )
        if name in fields:
            raise DatasetError(f"{where}: column {name!r} appears twice; expected each name once")
        fields[name] = ftype

    required = [("USER_ID_FIELD", spec.user_field, "token"), ("ITEM_ID_FIELD", spec.item_field, "token")]
    if spec.time_field is not None:
        required.append(("TIME_FIELD", spec.time_field, "float"))
    for key, name, ftype in required:
        if name not in fields:
            raise DatasetError(
                f"{where}: no {name!r} column (config key {key}); found {', '.join(fields)}: "
                f"expected a column '{name}:{ftype}', or set {key} to the column that holds it"
            )
        if fields[name] != ftype:
            why = "RecBole sorts interactions by its numeric value" if ftype == "float" else "ids are tokens"
            raise DatasetError(
                f"{where}: column {name!r} is declared {fields[name]!r}; expected '{name}:{ftype}' ({why})"
            )
        if not spec.loads(name):
            raise DatasetError(
                f"{path}: config keys load_col/unload_col leave out the {name!r} column ({key}); expected it "
                f"loaded, e.g. load_col: {{inter: [{spec.user_field}, {spec.item_field}"
                f"{', ' + spec.time_field if spec.time_field else ''}]}}"
            )
    return fields


def _first_line_of(path, spec, user_at, users):
    """(line number, user) of the first data line whose user is in `users` (error path only)."""
    with open(path, encoding=spec.encoding) as f:
        f.readline()
        for number, line in enumerate(f, start=2):
            values = line.rstrip("\n").split(spec.separator)
            if len(values) > user_at and values[user_at] in users:
                return number, values[user_at]
    raise AssertionError("unreachable: the user was counted from this file")


def undecodable_line(path, encoding):
    """1-based number of the first line that does not decode (error path only: text mode cannot tell)."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                raw.decode(encoding or "utf-8")
            except UnicodeDecodeError:
                return number
    return "?"


def _column_checks(names, fields, spec):
    """(column index, problem function, what was expected) for each column RecBole will read."""
    checks = [
        (names.index(spec.user_field), token_problem, "a user id"),
        (names.index(spec.item_field), token_problem, "an item id"),
    ]
    if spec.time_field is not None:
        checks.append((names.index(spec.time_field), timestamp_problem, _TIME_EXPECTED))
    checks += [
        (at, float_problem, "a number or nothing")
        for at, name in enumerate(names)
        if fields[name] == "float" and name != spec.time_field and spec.loads(name)
    ]
    return checks


def check_inter_file(path, spec=InterSpec()):
    """Stream one `.inter` file; raise DatasetError at the first problem, else return its summary."""
    if not os.path.isfile(path):
        raise DatasetError(f"{path}: file not found; expected RecBole's interaction file (see dataset/README.md)")
    try:
        with open(path, encoding=spec.encoding) as f:
            fields = _header_fields(path, f.readline(), spec)
            names = list(fields)
            user_at, item_at = names.index(spec.user_field), names.index(spec.item_field)
            column_checks = _column_checks(names, fields, spec)
            counts, items, interactions = {}, set(), 0
            for number, line in enumerate(f, start=2):
                text = line[:-1] if line.endswith("\n") else line
                if not text:
                    continue  # pandas skips blank lines
                values = text.split(spec.separator)
                if len(values) != len(names):
                    raise DatasetError(
                        f"{path} line {number}: {len(values)} column{'s' if len(values) != 1 else ''}, expected "
                        f"{len(names)} ({', '.join(names)}) separated by {spec.separator!r}"
                    )
                for at, problem_of, expected in column_checks:
                    problem = problem_of(values[at])
                    if problem:
                        raise DatasetError(f"{path} line {number}: {names[at]} {problem}; expected {expected}")
                user = values[user_at]
                counts[user] = counts.get(user, 0) + 1
                items.add(values[item_at])
                interactions += 1
    except UnicodeDecodeError:
        raise DatasetError(
            f"{path} line {undecodable_line(path, spec.encoding)}: not valid {spec.encoding or 'utf-8'} text; "
            "expected the file in the encoding that config key 'encoding' names"
        ) from None
    if interactions == 0:
        raise DatasetError(f"{path}: no interactions after the header line; expected one interaction per line")
    return InterSummary(path, interactions, _check_user_counts(path, spec, counts, user_at), len(items))


def _check_user_counts(path, spec, counts, user_at):
    """Mirror RecBole's user_inter_num_interval, then check what each kept user has; return their number."""
    intervals = parse_intervals(spec.user_interval)
    kept = {user: count for user, count in counts.items() if within(count, intervals)}
    if not kept:
        raise DatasetError(
            f"{path}: config key user_inter_num_interval={spec.user_interval!r} removes every "
            "user; expected an interval that keeps some"
        )
    sparse = [user for user, count in kept.items() if count < spec.min_user_interactions]
    if sparse:
        line, user = _first_line_of(path, spec, user_at, set(sparse))
        fix = (
            f"remove them, or let RecBole drop them with config "
            f'user_inter_num_interval: "[{spec.min_user_interactions},inf)"'
        )
        raise DatasetError(
            sparse_users_message(path, line, user, kept[user], len(sparse) - 1, spec.min_user_interactions, fix)
        )
    if spec.eval_min_interactions and max(kept.values()) < spec.eval_min_interactions:
        raise DatasetError(
            f"{path}: no user has {spec.eval_min_interactions} interactions (the most is {max(kept.values())}); "
            f"RecBole's leave-one-out split (config eval_args split LS) needs {spec.eval_min_interactions} for a "
            "user to reach the validation set, so it would be empty and early stopping would select nothing"
        )
    return len(kept)
