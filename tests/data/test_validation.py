"""validate_frame's messages and counts, and the pandas-free check's handling of id columns."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from mlflow_cli.serve import scoring
from mlflow_cli.data.validation.fast import columns_certainly_valid
from mlflow_cli.data.validation.frame import MAX_ISSUES, NOT_NULLABLE, validate_frame

SCHEMA = {"columns": {"age": {"kind": "numeric", "nullable": False}, "plan": {"kind": "categorical",
                                                                            "categories": ["basic", "pro"]}},
          "id_columns": ["customer_id"], "target": {"name": "churned"}}


def test_a_missing_value_spelled_as_text_gets_the_missing_message_next_to_a_wrong_value():
    frame = pd.DataFrame({"age": ["n/a", "abc", "3"], "plan": ["pro", "pro", "basic"]})
    result = validate_frame(frame, SCHEMA)
    assert [(i.row, i.message) for i in result.issues] == [(0, NOT_NULLABLE), (1, "expected a number, got 'abc'")]


def test_every_problem_is_counted_though_only_the_first_are_listed():
    frame = pd.DataFrame({"age": ["abc"] * 250, "plan": ["gold"] * 250})
    result = validate_frame(frame, SCHEMA)
    assert len(result.issues) == MAX_ISSUES and result.problems == 500
    with pytest.raises(scoring.InputError) as caught:
        scoring.check_frame(frame, SimpleNamespace(schema=SCHEMA), "reject")
    assert caught.value.issues[-1] == {"row": None, "field": None, "error": "400 more problems not listed"}
    assert len(caught.value.issues) == MAX_ISSUES + 1


def test_id_and_target_columns_may_ride_along_on_the_pandas_free_path():
    good = {"age": [30, 41.5], "plan": ["pro", "basic"]}
    assert columns_certainly_valid(good, SCHEMA, "reject")
    assert columns_certainly_valid({**good, "customer_id": ["c1", "c2"], "churned": ["no", None]}, SCHEMA, "reject")
    assert not columns_certainly_valid({**good, "region": ["north", "south"]}, SCHEMA, "reject")
    assert not columns_certainly_valid({"age": [30, 41.5], "customer_id": ["c1", "c2"]}, SCHEMA, "reject")
