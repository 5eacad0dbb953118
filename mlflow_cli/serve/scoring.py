"""Checking a request's `Rows` against the model's input schema, then scoring them.

`score_rows` is the one path every scoring endpoint takes: rows whose JSON values certainly fit
the schema go to the served model's pandas-free paths (`predict_matrix`, `predict_columns`);
anything else is checked as a frame (`check_frame`, raising `InputError`: 422 naming each bad
field and row) and scored through the pipeline. Depends on serve/requests.py (Rows),
serve/model.py (the served model) and data/validation/frame.py.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from mlflow_cli.data.validation.frame import MAX_ISSUES, validate_frame
from mlflow_cli.serve.model import Scores, ServedModel
from mlflow_cli.serve.requests import Rows, short


class InputError(Exception):
    """Readable records that break the model's input schema (422 with one issue per field and row)."""

    def __init__(self, issues: list[dict[str, Any]]) -> None:
        self.issues = issues
        super().__init__(summarize(issues))


def summarize(issues: list[dict[str, Any]], limit: int = 5) -> str:
    parts = []
    for issue in issues[:limit]:
        where = f"row {issue['row']}, " if issue.get("row") is not None else ""
        field = f"column '{issue['field']}': " if issue.get("field") is not None else ""
        parts.append(f"{where}{field}{issue['error']}")
    more = f" (and {len(issues) - limit} more)" if len(issues) > limit else ""
    return "The records do not match the model's input schema: " + "; ".join(parts) + more


def score_rows(model: ServedModel, rows: Rows, unseen: str) -> Scores:
    """Check, then predict. Rows whose JSON values certainly fit the schema take the pandas-free
    path; anything else is validated as a frame (InputError naming each bad field) and scored."""
    if rows.matrix is not None and rows.names is not None:
        scores = model.predict_matrix(rows.names, rows.matrix)
        if scores is not None:
            return scores
    if rows.columns is not None:
        scores = model.predict_columns(rows.columns, rows.n, unseen)
        if scores is not None:
            return scores
    check_frame(rows.frame, model, unseen)
    return model.predict(rows.frame)


def check_frame(frame: pd.DataFrame, model: ServedModel, unseen: str) -> None:
    """Raise InputError unless every row fits the schema (no row is scored otherwise)."""
    if len(frame) == 0:
        raise InputError([{"row": None, "field": None, "error": "no records to score"}])
    try:
        result = validate_frame(frame, model.schema, unseen=unseen, allow_extra=False)
    except Exception as exc:  # a value the checks cannot even compare: still the client's input
        issue = {"row": None, "field": None, "error": f"the records cannot be checked ({short(exc)})"}
        raise InputError([issue]) from exc
    if not result.ok:
        issues = [issue.to_json() for issue in result.issues[:MAX_ISSUES]]
        if result.problems > len(issues):
            issues.append({"row": None, "field": None,
                           "error": f"{result.problems - len(issues)} more problems not listed"})
        raise InputError(issues)
