"""A model's reference for monitoring: compact summaries (data/summary.py) of the rows it learned
from, written by `mlw train` as `train/<version>/reference.json`, so that `mlw monitor` reads only
the current data and never reloads the training set.

It holds, for every input column of prepare's schema, the summary of its values on the training
split; the target's; the model's predictions on the test split (held out: predictions on the
training rows would be more confident than on any new rows); and each column's share of the
model's importance. Columns are compared as their kind reads them (`column_values`): numbers and
dates (as days) and the length of a text as numbers, categories and booleans as categories.

Heavy (pandas): imported by the train and monitor stages when they run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlflow_cli.data.summary import CategoricalSummary, NumericSummary, Summary, summary_from_json

FORMAT = 1
NUMERIC_KINDS = frozenset({"numeric", "datetime", "text"})  # compared as numbers (a text by its length)
_DAY_NS = 86_400 * 10**9


def drift_kind(kind: str) -> str:
    """How a column of this schema kind is compared: "numeric" or "categorical"."""
    return "numeric" if kind in NUMERIC_KINDS else "categorical"


def column_values(values: pd.Series, kind: str) -> np.ndarray:
    """A column as drift compares it: floats (missing as NaN) for numbers, dates (days since
    1970) and texts (characters; an empty text counts as missing); for categories and booleans
    text labels with missing values as None. The same coercion the model's own preprocessing
    applies (models/features.py), so '3' and 3, 'yes' and True read alike."""
    from mlflow_cli.data.coerce import coerce_column

    if kind == "text":
        text = values.astype("string")
        lengths = text.str.len().astype("float64").to_numpy(dtype=float, na_value=np.nan)
        return np.where(lengths > 0, lengths, np.nan)
    typed = coerce_column(values, kind)
    if kind == "numeric":
        return typed.to_numpy(dtype=float, na_value=np.nan)
    if kind == "datetime":
        stamps = pd.to_datetime(typed, errors="coerce", utc=True)
        ns = stamps.to_numpy(dtype="datetime64[ns]").astype("int64").astype(float)
        return np.where(stamps.isna().to_numpy(), np.nan, ns / _DAY_NS)
    if kind == "boolean":
        floats = typed.to_numpy(dtype=float, na_value=np.nan)
        labels = np.full(len(floats), None, dtype=object)
        labels[floats == 1.0] = "true"
        labels[floats == 0.0] = "false"
        return labels
    labels = np.array(typed.astype(object).to_numpy(), dtype=object)
    missing = pd.isna(typed).to_numpy()
    labels[missing] = None
    return labels


def summarise(values: np.ndarray, kind: str) -> Summary:
    return NumericSummary.of(values) if drift_kind(kind) == "numeric" else CategoricalSummary.of(values)


@dataclass(frozen=True)
class Reference:
    rows: int
    columns: dict[str, tuple[str, Summary]]        # input column -> (its kind in the schema, summary)
    target: tuple[str, Summary] | None              # (name, summary) on the training rows
    prediction: Summary | None                      # the model's outputs on the test split
    prediction_rows: int
    importances: dict[str, float] | None            # input column -> share of the model's importance

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "rows": self.rows,
                "columns": {name: {"column": kind, **summary.to_json()} for name, (kind, summary) in self.columns.items()},
                "target": None if self.target is None else {"name": self.target[0], **self.target[1].to_json()},
                "prediction": None if self.prediction is None else self.prediction.to_json(),
                "prediction_rows": self.prediction_rows, "importances": self.importances}

    @classmethod
    def from_json(cls, data: Any) -> Reference:
        """ValueError when the document is not a reference this mlw can read."""
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("columns"), dict):
            raise ValueError(f"not a format-{FORMAT} reference (an object with 'format' and 'columns')")
        try:
            columns = {str(name): (str(entry["column"]), summary_from_json(entry)) for name, entry in data["columns"].items()}
            target = data.get("target")
            importances = data.get("importances")
            return cls(int(data["rows"]), columns,
                       None if target is None else (str(target["name"]), summary_from_json(target)),
                       None if data.get("prediction") is None else summary_from_json(data["prediction"]),
                       int(data.get("prediction_rows") or 0),
                       None if importances is None else {str(k): float(v) for k, v in importances.items()})
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"a field is missing or has the wrong type ({type(exc).__name__}: {exc})") from None


def build_reference(schema: dict[str, Any], train: pd.DataFrame, predictions: Any | None, categorical: bool,
                    importances: dict[str, float] | None) -> Reference:
    """The reference of a model trained on `train` (prepare's training split, its raw columns)
    whose outputs on the test split are `predictions` (None: not known); `categorical`: its
    target and outputs are classes or cluster ids, not values."""
    columns = {name: (spec["kind"], summarise(column_values(train[name], spec["kind"]), spec["kind"]))
               for name, spec in schema["columns"].items() if name in train.columns}
    target = None
    name = (schema.get("target") or {}).get("name")
    if name and name in train.columns:
        target = (name, summarise(target_values(train[name], categorical), "categorical" if categorical else "numeric"))
    prediction = None
    if predictions is not None:
        prediction = summarise(target_values(pd.Series(np.asarray(predictions)), categorical),
                               "categorical" if categorical else "numeric")
    return Reference(len(train), columns, target, prediction, 0 if predictions is None else len(predictions),
                     importances)


def target_values(values: pd.Series, categorical: bool) -> np.ndarray:
    """A target or prediction column as drift compares it: class labels as text, else numbers."""
    if categorical:
        return column_values(values, "categorical")
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


INTERACTIONS = "interactions"  # a recommender's reference (its kind)


def interaction_reference(train: Any, roles: dict[str, Any]) -> dict[str, Any]:
    """What monitor compares new interactions with, from the training split: compact summaries of
    the ratings, of who interacts (each interaction's user's number of training interactions: a
    measure that does not grow with the size of a batch) and of what (the items)."""
    out: dict[str, Any] = {"kind": INTERACTIONS, "rows": len(train), "users": int(train[roles["user"]].nunique()),
                           "activity": NumericSummary.of(_activity(train[roles["user"]])).to_json(),
                           "items": CategoricalSummary.of(train[roles["item"]].astype(str)).to_json()}
    if roles["rating"]:
        out["rating"] = NumericSummary.of(train[roles["rating"]].to_numpy(float)).to_json()
    return out


def _activity(users: Any) -> Any:
    """For each interaction, how many training interactions its user has."""
    return users.map(users.value_counts()).to_numpy(float)
