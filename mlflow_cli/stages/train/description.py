"""What `mlw train` records about a fitted model: its feature names, its feature importances
(the estimator's own, else by permutation) and its params as JSON values.

Heavy (pandas, scikit-learn): imported by training.py, which the stage imports only to run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from mlflow_cli.models.metrics import make_scorer_for
from mlflow_cli.models.tasks.task import Task
from mlflow_cli.models.values import plain

PERMUTATION_ROWS = 2000


def importances_of(model: Pipeline, task: Task, rows: pd.DataFrame, target: str | None, metric: str,
                   seed: int) -> tuple[dict[str, float] | None, str | None, dict[str, float] | None]:
    """The model's feature importances, top 50: its own (trees, coefficients) as "native", else for
    supervised tasks by permutation on (a sample of) `rows` as "permutation"; and each input
    column's share of the importance (every column, summing to 1: `column_shares`), by which
    `mlw monitor` weighs drifted columns."""
    fitted = model.named_steps["model"]
    names = feature_names(model)
    native = _native(fitted)
    if native is not None and len(names) == len(native):
        values = [float(v) for v in native]
        return _top(dict(zip(names, values))), "native", column_shares(model, values)
    if not task.supervised:
        return None, None, None
    from sklearn.inspection import permutation_importance

    rows = rows.sample(min(len(rows), PERMUTATION_ROWS), random_state=seed)
    columns = list(model.named_steps["preprocess"].named_steps["coerce"].kinds)
    result = permutation_importance(model, rows[columns], rows[target], n_repeats=3,
                                    random_state=seed, scoring=make_scorer_for(metric))
    values = {c: float(v) for c, v in zip(columns, result.importances_mean)}
    return _top(values), "permutation", _normalised(values)


def _native(fitted: Any) -> np.ndarray | None:
    """A model's own importances: trees', |coefficients| (averaged over classes), or for a voting
    ensemble its members' own, each scaled to sum to 1, weighted as the ensemble weighs them."""
    members = getattr(fitted, "estimators_", None)
    if hasattr(fitted, "voting") or type(fitted).__name__ == "VotingRegressor":
        weights = fitted.weights if fitted.weights is not None else [1.0] * len(members)
        parts = [_native(getattr(m, "steps", [[None, m]])[-1][1]) for m in members]
        if any(p is None or not np.sum(p) > 0 for p in parts) or len({len(p) for p in parts}) != 1:
            return None
        return sum(w * p / np.sum(p) for w, p in zip(weights, parts)) / float(np.sum(weights))
    native = getattr(fitted, "feature_importances_", None)
    if native is None and hasattr(fitted, "coef_"):
        native = np.abs(np.atleast_2d(np.asarray(fitted.coef_, dtype=float))).mean(axis=0)
    return None if native is None else np.asarray(native, dtype=float)


def column_shares(model: Pipeline, importances: list[float]) -> dict[str, float] | None:
    """Each input column's share of the summed |importance| of the features made from it.

    The preprocessing's ColumnTransformer says which output features each branch made
    (`output_indices_`); a branch of one column (a text column's words, a date's parts) gives
    that column all of them, and in a branch of several columns a feature belongs to the
    column it is named after (`plan_basic` -> plan, `missingindicator_monthly_charges` ->
    monthly_charges; the longest matching name wins)."""
    features = model.named_steps["preprocess"].named_steps.get("features")
    indices = getattr(features, "output_indices_", None)
    if indices is None:
        return None
    names = feature_names(model)
    totals: dict[str, float] = {}
    for name, _, columns in features.transformers_:
        block = indices.get(name)
        if block is None or isinstance(columns, str) and columns == "drop":
            continue
        columns = [columns] if isinstance(columns, str) else list(columns)
        for position in range(block.start, block.stop):
            owner = columns[0] if len(columns) == 1 else _owner(names[position] if position < len(names) else "",
                                                                 columns)
            if owner is not None:
                totals[owner] = totals.get(owner, 0.0) + abs(importances[position])
    return _normalised(totals)


def _owner(feature: str, columns: list[str]) -> str | None:
    matches = [c for c in columns if feature == c or feature.startswith(c + "_") or feature.endswith("_" + c)]
    return max(matches, key=len) if matches else None


def _normalised(values: dict[str, float]) -> dict[str, float] | None:
    total = sum(abs(v) for v in values.values())
    if not values or total <= 0 or not np.isfinite(total):
        return None
    return {c: abs(v) / total for c, v in sorted(values.items(), key=lambda kv: -abs(kv[1]))}


def feature_names(model: Pipeline) -> list[str]:
    try:
        return [str(n) for n in model.named_steps["preprocess"].get_feature_names_out()]
    except (AttributeError, ValueError):
        return []


def _top(values: dict[str, float], n: int = 50) -> dict[str, float]:
    return dict(sorted(values.items(), key=lambda kv: abs(kv[1]), reverse=True)[:n])


def jsonable_params(estimator: Any) -> dict[str, Any]:
    """The estimator's own params as JSON values (anything else as its repr), for the manifest."""
    out = {}
    for key, value in estimator.get_params(deep=False).items():
        value = plain(value)
        if value is None or isinstance(value, (bool, int, float, str)):
            out[key] = value
        elif isinstance(value, (list, tuple)) and all(isinstance(v, (bool, int, float, str)) for v in value):
            out[key] = list(value)
        else:
            out[key] = repr(value)
    return out
