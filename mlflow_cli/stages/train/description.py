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
                   seed: int) -> tuple[dict[str, float] | None, str | None]:
    """The model's feature importances, top 50: its own (trees, coefficients) as "native", else for
    supervised tasks by permutation on (a sample of) `rows` as "permutation"."""
    fitted = model.named_steps["model"]
    names = feature_names(model)
    native = getattr(fitted, "feature_importances_", None)
    if native is None and hasattr(fitted, "coef_"):
        coef = np.atleast_2d(np.asarray(fitted.coef_, dtype=float))
        native = np.abs(coef).mean(axis=0)
    if native is not None and len(names) == len(native):
        return _top(dict(zip(names, map(float, native)))), "native"
    if not task.supervised:
        return None, None
    from sklearn.inspection import permutation_importance

    rows = rows.sample(min(len(rows), PERMUTATION_ROWS), random_state=seed)
    columns = list(model.named_steps["preprocess"].named_steps["coerce"].kinds)
    result = permutation_importance(model, rows[columns], rows[target], n_repeats=3,
                                    random_state=seed, scoring=make_scorer_for(metric))
    return _top({c: float(v) for c, v in zip(columns, result.importances_mean)}), "permutation"


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
