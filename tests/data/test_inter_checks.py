"""Atomic-file checks: every file in tests/fixtures/inter/broken fails with its one line; good files pass."""

import glob
import os

import pytest

from recbole_hydra.data.inter_checks import DatasetError, InterSpec, check_inter_file

from helpers import FIXTURES

DATA = os.path.join(FIXTURES, "inter")  # broken/ and good/ .inter files
SEQUENTIAL = InterSpec(encoding="utf-8", min_user_interactions=2, eval_min_interactions=4)  # HydraRec's defaults

# Each broken file: the line it fails on ("" where no single line is at fault) and what the message says.
BROKEN = {
    "empty_file.inter": (
        "",
        "empty file; expected a header line user_id:token, item_id:token, timestamp:float separated by '\\t'",
    ),
    "header_only.inter": ("", "no interactions after the header line"),
    "missing_user_field.inter": (
        "line 1",
        "no 'user_id' column (config key USER_ID_FIELD); found uid, item_id, timestamp",
    ),
    "missing_item_field.inter": ("line 1", "no 'item_id' column (config key ITEM_ID_FIELD); found user_id, movie_id"),
    "missing_timestamp_field.inter": ("line 1", "no 'timestamp' column (config key TIME_FIELD)"),
    "untyped_header.inter": ("line 1", "column 1 is 'user_id'; expected name:type"),
    "unknown_type.inter": ("line 1", "column 'timestamp' has type 'int'; expected one of token, float"),
    "space_after_type.inter": ("line 1", "column 'item_id' has type 'token '"),
    "trailing_separator_in_header.inter": ("line 1", "column 4 is ''; expected name:type"),
    "timestamp_declared_token.inter": ("line 1", "column 'timestamp' is declared 'token'; expected 'timestamp:float'"),
    "user_id_declared_float.inter": ("line 1", "column 'user_id' is declared 'float'; expected 'user_id:token'"),
    "duplicate_column.inter": ("line 1", "column 'item_id' appears twice"),
    "comma_separated.inter": ("line 1", "the header has no '\\t' but has ','"),
    "byte_order_mark.inter": ("line 1", "starts with a byte-order mark"),
    "too_few_columns.inter": ("line 3", "2 columns, expected 3 (user_id, item_id, timestamp) separated by '\\t'"),
    "too_many_columns.inter": ("line 5", "4 columns, expected 3"),
    "non_numeric_timestamp.inter": ("line 4", "timestamp is '2021-01-01', not a number; expected a number that orders"),
    "empty_timestamp.inter": ("line 6", "timestamp is '', not a number"),
    "infinite_timestamp.inter": ("line 7", "timestamp is 'inf', not a finite number"),
    "nan_timestamp.inter": ("line 2", "timestamp is 'nan', not a finite number"),
    "empty_user_id.inter": ("line 3", "user_id is empty; expected a user id"),
    "empty_item_id.inter": ("line 8", "item_id is empty; expected an item id"),
    "item_id_read_as_missing.inter": ("line 5", "item_id is 'NA', which pandas reads as a missing value"),
    "quoted_user_id.inter": ("line 6", "user_id is '\"u2': pandas reads a leading double quote"),
    "non_numeric_rating.inter": ("line 4", "rating is 'good', not a number; expected a number or nothing"),
    "not_utf8.inter": ("line 5", "not valid utf-8 text"),
    "user_with_one_interaction.inter": (
        "line 10",
        "user 'u3' has 1 interaction (1 more user too); expected at least 2",
    ),
    "no_user_reaches_validation.inter": ("", "no user has 4 interactions (the most is 3)"),
}


def test_every_broken_file_has_an_expected_message():
    assert sorted(BROKEN) == sorted(os.listdir(os.path.join(DATA, "broken")))


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_file_fails_with_one_line_naming_file_and_line(name):
    path = os.path.join(DATA, "broken", name)
    line, fragment = BROKEN[name]
    with pytest.raises(DatasetError) as caught:
        check_inter_file(path, SEQUENTIAL)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path} {line}:" if line else f"{path}:"), message
    assert fragment in message, message


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(DATA, "good", "*.inter"))), ids=os.path.basename)
def test_good_edge_cases_pass(path):
    summary = check_inter_file(path, SEQUENTIAL)
    assert (summary.interactions, summary.users, summary.items) == (8, 2, 4)
