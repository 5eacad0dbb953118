"""The regression task: a numeric value per row. numpy and scikit-learn are imported inside functions."""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

from mlflow_cli.models.tasks.task import Task
from mlflow_cli.models.values import finite

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

METRICS = ("mse", "rmse", "mae", "r2", "mape", "median_ae")


def _regression_metric(name: str, y_true, y_pred) -> float:
    from sklearn import metrics as skm

    if name == "rmse":
        return math.sqrt(skm.mean_squared_error(y_true, y_pred))
    score = {
        "mse": skm.mean_squared_error, "mae": skm.mean_absolute_error, "r2": skm.r2_score,
        "mape": skm.mean_absolute_percentage_error, "median_ae": skm.median_absolute_error,
    }[name]
    return score(y_true, y_pred)


def regression_metrics(y_true: ArrayLike, y_pred: ArrayLike) -> dict[str, float]:
    """Every regression metric that is defined for this data (r2 needs two rows).

    mape is scikit-learn's: a fraction (0.1 = 10%), and huge where y_true is near 0.
    """
    import numpy as np

    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return finite({name: _regression_metric(name, y_true, y_pred)
                        for name in METRICS})


def _score(y_true: Any, y_pred: Any, proba: Any = None, classes: Any = None, X: Any = None,
           positive: Any = None) -> dict[str, float]:
    return regression_metrics(y_true, y_pred)


TASK = Task(name="regression", metrics=METRICS, lower_is_better=frozenset({"mse", "rmse", "mae", "mape", "median_ae"}),
            supervised=True, labels=False, default_split="random", prediction="value",
            plots=("residuals", "predicted_vs_actual"), auto_candidates=("ridge", "hist_gradient_boosting", "xgboost", "lightgbm", "random_forest", "catboost"),
            cv_report=("rmse", "mae", "r2"),
            selection_metric=lambda n_classes: "rmse", score=_score)
