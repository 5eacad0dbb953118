"""The metric catalogue over every task: names, directions, checks of configured names, CV
scorers, and gates. How each metric is computed lives with its task (models/tasks/).

`mlw train` scores cross-validation folds with `make_scorer_for`; `mlw evaluate` scores the
held-out set with `compute_metrics` and checks `evaluate.gates` with `parse_gate`/`compare`.
Both go through the same per-metric functions of the task modules, so a CV score and a
held-out score of the same name always mean the same thing.

Conventions that hold everywhere:
- Binary classification: the positive label is the model's `positive_class` where the caller
  passes it (`positive=`: data.positive_class, else the minority class of the training rows),
  else `classes[1]`, the second of the sorted classes (the estimator's `classes_` order).
  Unsuffixed precision/recall/f1 and pr_auc are for that label; on multiclass they are macro averages.
- A metric that is undefined for the data (roc_auc when y_true holds one class, silhouette
  with one cluster, r2 on one row) is left out of the result instead of raising or being NaN.
- Results are plain Python floats, so they go straight into JSON manifests.

numpy and scikit-learn are imported inside functions: `mlw --help` and config checks
import this module and must not pay for them.
"""

from __future__ import annotations

import difflib
import math
import re
from typing import TYPE_CHECKING, Any

from mlflow_cli.core.errors import ConfigError
from mlflow_cli.models.tasks import TASKS, task_named
from mlflow_cli.models.tasks.classification import (PROBA_METRICS, _as_proba, _label_metric, _proba_metric,
                                                    classification_metrics, confusion, per_class_report)
from mlflow_cli.models.tasks.clustering import clustering_metrics
from mlflow_cli.models.tasks.regression import _regression_metric, regression_metrics
from mlflow_cli.models.values import as_labels, plain

__all__ = ["GREATER_IS_BETTER", "PROBA_METRICS", "TASK_METRICS", "check_metric_names", "classification_metrics",
           "clustering_metrics", "compare", "compute_metrics", "confusion", "default_metric", "make_scorer_for",
           "metric_of_predictions", "parse_gate", "per_class_report", "plain", "regression_metrics", "scorer_sign"]

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

TASK_METRICS: dict[str, tuple[str, ...]] = {name: task.metrics for name, task in TASKS.items()}

GREATER_IS_BETTER: dict[str, bool] = {
    name: name not in task.lower_is_better for task in TASKS.values() for name in task.metrics
}

# Names people bring from scikit-learn or habit, used only to suggest our name.
_ALIASES = {
    "auc": "roc_auc", "roc_auc_ovr": "roc_auc", "average_precision": "pr_auc", "ap": "pr_auc",
    "neg_log_loss": "log_loss", "logloss": "log_loss", "cross_entropy": "log_loss",
    "f1_score": "f1", "f1_binary": "f1", "acc": "accuracy",
    "mean_squared_error": "mse", "neg_mean_squared_error": "mse",
    "root_mean_squared_error": "rmse", "neg_root_mean_squared_error": "rmse",
    "mean_absolute_error": "mae", "neg_mean_absolute_error": "mae",
    "mean_absolute_percentage_error": "mape", "neg_mean_absolute_percentage_error": "mape",
    "median_absolute_error": "median_ae", "neg_median_absolute_error": "median_ae",
    "r2_score": "r2", "r_squared": "r2",
    "silhouette_score": "silhouette", "adjusted_rand_score": "ari", "adjusted_rand": "ari",
    "normalized_mutual_info": "nmi", "normalized_mutual_info_score": "nmi",
}

_GATE = re.compile(r"^\s*(>=|<=|==|>|<)\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*$")
_OPS = (">=", "<=", ">", "<", "==")


# --------------------------------------------------------------------------- catalogue


def _check_task(task: str) -> None:
    task_named(task)


def default_metric(task: str, n_classes: int | None = None) -> str:
    """The metric that selects models when the config names none (the task decides)."""
    return task_named(task).default_metric(n_classes)


def check_metric_names(task: str, names: list[str], where: str) -> None:
    """Raise ConfigError for the first name that is not a metric of `task`.

    A name that belongs to another task gets its own message: "rmse" on a classification
    project is a different mistake from a typo, and a did-you-mean would not help.
    """
    _check_task(task)
    valid = TASK_METRICS[task]
    hint = f"Metrics for {task} are: {', '.join(valid)}."
    for name in names:
        if name in valid:
            continue
        other = next((t for t, metrics in TASK_METRICS.items() if name in metrics), None)
        if other is not None:
            raise ConfigError(
                f"{_quoted(where)} names metric '{name}', which is a {other} metric, "
                f"not a {task} one.", hint=hint)
        raise ConfigError(
            f"{_quoted(where)} names metric '{name}', which does not exist for {task}."
            f"{_suggest(str(name), valid)}", hint=hint)


def _quoted(where: str) -> str:
    """`where` in backticks, whether or not the caller already added them."""
    return f"`{where.strip('`')}`"


def _suggest(name: str, valid: tuple[str, ...]) -> str:
    """' Did you mean ...?' from a known alias, else the closest name. Metric names are
    short, so the cutoff is below did_you_mean's: 'f2' must still suggest 'f1'."""
    key = name.lower()
    if _ALIASES.get(key) in valid:
        return f" Did you mean '{_ALIASES[key]}'?"
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    return f" Did you mean '{close[0]}'?" if close else ""


def scorer_sign(name: str) -> int:
    """+1 when `make_scorer_for(name)` returns the metric itself, -1 when it returns the
    negated metric (lower-is-better metrics, so that CV can always maximise).
    Multiply a CV score by this to get the metric back."""
    if name not in GREATER_IS_BETTER:
        raise ValueError(f"unknown metric {name!r}")
    return 1 if GREATER_IS_BETTER[name] else -1


# --------------------------------------------------------------------------- helpers


# --------------------------------------------------------------------------- classification


# --------------------------------------------------------------------------- regression


# --------------------------------------------------------------------------- clustering


# --------------------------------------------------------------------------- dispatch


def compute_metrics(task: str, y_true: ArrayLike | None, y_pred: ArrayLike,
                    proba: ArrayLike | None = None, classes: ArrayLike | None = None,
                    X: Any = None, positive: Any = None) -> dict[str, float]:
    """All defined metrics of `task`. For clustering, y_pred are the cluster labels, X is
    required, and y_true (optional) adds ari/nmi. `positive`: a binary problem's positive label."""
    return task_named(task).score(y_true, y_pred, proba=proba, classes=classes, X=X, positive=positive)


def metric_of_predictions(name: str, y_true: Any, predictions: Any, classes: Any = None,
                          positive: Any = None) -> float | None:
    """One classification or regression metric from a model's outputs on rows: class
    probabilities (columns aligned to `classes`; labels are their argmax, as soft voting predicts)
    or labels when `classes` is given, values otherwise. None where undefined. What train scores
    its cross-validation folds and ensembles with, without refitting."""
    import numpy as np

    if classes is None:
        value = _regression_metric(name, np.asarray(y_true, dtype=float), np.asarray(predictions, dtype=float))
    else:
        y_true, classes = as_labels(y_true), np.asarray(classes)
        predictions = np.asarray(predictions)
        proba = predictions if predictions.ndim == 2 else None
        labels = classes[np.argmax(proba, axis=1)] if proba is not None else predictions
        if name in PROBA_METRICS:
            value = None if proba is None else _proba_metric(name, y_true, proba, classes, positive)
        else:
            value = _label_metric(name, y_true, as_labels(labels), classes, positive)
    return None if value is None or not math.isfinite(value) else float(value)


# --------------------------------------------------------------------------- CV scorers


class MetricScorer:
    """A scikit-learn scorer, `scorer(estimator, X, y) -> float`, for one metric.

    It reads `estimator.classes_` at call time, which a `make_scorer(..., pos_label=...)`
    scorer cannot: the positive label is then always classes_[1] whatever the label type,
    and log_loss/roc_auc know every class even when a fold's y lacks one. Lower-is-better
    metrics come back negated (see `scorer_sign`); undefined ones as NaN, which
    cross_validate keeps and search CV ranks last.
    """

    def __init__(self, name: str, positive: Any = None) -> None:
        self.name = name
        self.positive = positive
        self.sign = scorer_sign(name)

    def __repr__(self) -> str:
        return f"make_scorer_for({self.name!r})"

    def __call__(self, estimator: Any, X: Any, y_true: ArrayLike) -> float:
        # No warnings.catch_warnings() here, unlike the held-out functions: CV may run
        # scorers in threads, and that context manager swaps process-wide filters.
        if self.name in TASKS["regression"].metrics:
            import numpy as np

            y_true = np.asarray(y_true, dtype=float)
            value = _regression_metric(self.name, y_true, np.asarray(estimator.predict(X), dtype=float))
        elif self.name in PROBA_METRICS:
            y_true, classes = as_labels(y_true), estimator.classes_
            proba = _as_proba(estimator.predict_proba(X), len(y_true), classes)
            value = _proba_metric(self.name, y_true, proba, classes, self.positive)
        else:
            value = _label_metric(self.name, as_labels(y_true), as_labels(estimator.predict(X)),
                                  estimator.classes_, self.positive)
        if value is None or not math.isfinite(value):
            return float("nan")
        return self.sign * float(value)


def make_scorer_for(name: str, positive: Any = None) -> MetricScorer:
    """A scorer for cross_validate / GridSearchCV (`scoring=` or a value in its dict).

    Classification and regression metrics only. roc_auc, pr_auc and log_loss call
    predict_proba. The score is the metric times `scorer_sign(name)`: negated for
    lower-is-better metrics, so that CV always maximises.
    """
    owner = next((task for task in TASKS.values() if name in task.metrics), None)
    if owner is not None and not owner.supervised:
        raise ValueError(f"{name!r} is a {owner.name} metric; CV scorers exist for "
                         "classification and regression metrics only")
    scorer_sign(name)                      # unknown name -> ValueError
    return MetricScorer(name, positive)


# --------------------------------------------------------------------------- gates


def parse_gate(text: str, where: str) -> tuple[str, float]:
    """'>= 0.8' -> ('>=', 0.8). `where` is the key path, e.g. 'evaluate.gates.f1'."""
    match = _GATE.match(text) if isinstance(text, str) else None
    if match is None:
        raise ConfigError(
            f"{_quoted(where)} must look like '>= 0.8'. Got '{text}'.",
            hint="Write an operator (>=, <=, >, <, ==) and a number, quoted in YAML "
                 "because a leading '>' is YAML syntax: f1: \">= 0.8\".")
    return match.group(1), float(match.group(2))


def check_gate(name: str, condition: str, value: float | None, where: str, unavailable: str) -> dict[str, Any]:
    """One gate's result: {"gate", "condition", "value", "passed", "message"}. A value that could
    not be computed (None) fails, with `unavailable` saying why. Shared by evaluate and monitor."""
    op, threshold = parse_gate(condition, where)
    if value is None:
        return {"gate": name, "condition": f"{op} {threshold:g}", "value": None, "passed": False,
                "message": f"{name} could not be computed ({unavailable})"}
    passed = compare(value, op, threshold)
    return {"gate": name, "condition": f"{op} {threshold:g}", "value": value, "passed": passed,
            "message": f"{name} = {value:.4g}, required {op} {threshold:g}"}


def compare(value: float, op: str, threshold: float) -> bool:
    """Whether `value op threshold` holds. '==' allows float rounding (rel 1e-9, abs 1e-12),
    so '== 1' passes an accuracy computed as 0.9999999999999999. NaN never passes."""
    if op not in _OPS:
        raise ValueError(f"op must be one of {', '.join(_OPS)}; got {op!r}")
    if math.isnan(value):
        return False
    if op == "==":
        return math.isclose(value, threshold, rel_tol=1e-9, abs_tol=1e-12)
    return {">=": value >= threshold, "<=": value <= threshold,
            ">": value > threshold, "<": value < threshold}[op]
