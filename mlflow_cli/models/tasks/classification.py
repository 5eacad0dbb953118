"""The classification task: class labels from a target of a few values, with probabilities.

Conventions: the positive label of a binary problem is `positive` where a caller gives it (the
model's `positive_class`: data.positive_class, else the minority class of its training rows), else
`classes[1]`, the second of the sorted classes; unsuffixed precision/recall/f1 and pr_auc are for
that label, and on multiclass they are macro averages. A metric undefined for the data (roc_auc when y_true
holds one class) is left out. numpy and scikit-learn are imported inside functions.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from mlflow_cli.models.tasks.task import Task
from mlflow_cli.models.values import as_labels, finite, plain

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

METRICS = (
    "accuracy", "balanced_accuracy",
    "precision", "recall", "f1",
    "precision_macro", "recall_macro", "f1_macro",
    "precision_weighted", "recall_weighted", "f1_weighted",
    "roc_auc", "pr_auc", "log_loss",
)
# Computed from predict_proba rather than predicted labels.
PROBA_METRICS: frozenset[str] = frozenset({"roc_auc", "pr_auc", "log_loss"})


def _resolve_classes(classes: ArrayLike | None, y_true, y_pred):
    import numpy as np
    from sklearn.utils.multiclass import unique_labels

    if classes is None:
        return unique_labels(y_true, y_pred)
    return np.asarray(classes)


def _report_labels(classes, y_true, y_pred) -> list:
    """The model's classes, then any label it never saw (so no row is silently dropped)."""
    known = [plain(c) for c in _resolve_classes(classes, y_true, y_pred)]
    extra = {plain(v) for v in y_true} | {plain(v) for v in y_pred}
    extra.difference_update(known)
    return known + sorted(extra, key=lambda v: (str(type(v)), v))


def positive_of(classes, positive: Any = None) -> Any:
    """The positive label of a binary problem: `positive` when it is one of `classes`, else classes[1]."""
    if positive is not None and any(plain(c) == plain(positive) for c in classes):
        return next(c for c in classes if plain(c) == plain(positive))
    return classes[1]


def minority_class(y: Any) -> Any:
    """The rarer class of binary labels (a tie: the second sorted), the default positive class."""
    import numpy as np

    values, counts = np.unique(as_labels(y), return_counts=True)
    if len(values) != 2:
        return None
    return plain(values[0] if counts[0] < counts[1] else values[1])


def _label_metric(name: str, y_true, y_pred, classes, positive: Any = None) -> float:
    """One classification metric from predicted labels."""
    from sklearn import metrics as skm

    if name == "accuracy":
        return skm.accuracy_score(y_true, y_pred)
    if name == "balanced_accuracy":
        return skm.balanced_accuracy_score(y_true, y_pred)
    family, _, average = name.partition("_")
    score = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}[family]
    if not average and len(classes) == 2:
        # Same number as average="binary", pos_label=classes[1], but still defined when
        # y_true holds a label the model never saw (binary averaging would raise).
        return score(y_true, y_pred, labels=[positive_of(classes, positive)], average=None, zero_division=0)[0]
    return score(y_true, y_pred, average=average or "macro", zero_division=0)


def _proba_metric(name: str, y_true, proba, classes, positive: Any = None) -> float | None:
    """One classification metric from predict_proba columns aligned to `classes`.
    None when the metric is undefined for this y_true."""
    import numpy as np
    from sklearn import metrics as skm
    from sklearn.preprocessing import label_binarize

    if len(classes) < 2:
        return None
    if name == "log_loss":
        if not np.isin(y_true, classes).all():
            return None          # a label the model gives no column: the loss is unbounded
        return skm.log_loss(y_true, proba, labels=classes)
    # Ranking metrics, one-vs-rest: each class scored needs positives and negatives in y_true.
    # A label the model never saw counts as a negative for every class.
    if len(classes) == 2:
        column = list(classes).index(positive_of(classes, positive))
        onehot = (y_true == classes[column]).reshape(-1, 1)
        proba = proba[:, column:column + 1]
    else:
        onehot = label_binarize(y_true, classes=classes)
    positives = onehot.sum(axis=0)
    if ((positives == 0) | (positives == len(y_true))).any():
        return None
    if name == "roc_auc":
        return skm.roc_auc_score(onehot, proba, average="macro")
    return skm.average_precision_score(onehot, proba, average="macro")


def _as_proba(proba, n_rows: int, classes):
    import numpy as np

    proba = np.asarray(proba, dtype=float)
    if proba.ndim != 2 or proba.shape != (n_rows, len(classes)):
        raise ValueError(
            f"proba must have shape (n_rows, n_classes) = ({n_rows}, {len(classes)}) to match "
            f"classes {list(classes)}; got {proba.shape}. Pass the estimator's classes_.")
    return proba


def classification_metrics(y_true: ArrayLike, y_pred: ArrayLike, proba: ArrayLike | None = None,
                           classes: ArrayLike | None = None, positive: Any = None) -> dict[str, float]:
    """Every classification metric that is defined for this data.

    `classes` is the estimator's `classes_` (sorted); without it the sorted labels of
    y_true and y_pred are used. roc_auc, pr_auc and log_loss need `proba` and are left out
    without it. `positive` is the binary positive label (default classes[1]).
    """
    y_true, y_pred = as_labels(y_true), as_labels(y_pred)
    classes = _resolve_classes(classes, y_true, y_pred)
    if proba is not None:
        proba = _as_proba(proba, len(y_true), classes)
    results: dict[str, float | None] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)    # sklearn's UndefinedMetricWarning & co
        for name in METRICS:
            if name not in PROBA_METRICS:
                results[name] = _label_metric(name, y_true, y_pred, classes, positive)
            elif proba is not None:
                results[name] = _proba_metric(name, y_true, proba, classes, positive)
    return finite(results)


def confusion(y_true: ArrayLike, y_pred: ArrayLike, classes: ArrayLike | None) -> dict:
    """{"labels": [...], "matrix": [[...]]}: rows are true labels, columns predicted.

    Labels are the model's classes, then any label it never saw, so counts always sum to
    the number of rows.
    """
    from sklearn.metrics import confusion_matrix

    y_true, y_pred = as_labels(y_true), as_labels(y_pred)
    labels = _report_labels(classes, y_true, y_pred)
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    return {"labels": labels, "matrix": matrix.tolist()}


def per_class_report(y_true: ArrayLike, y_pred: ArrayLike, classes: ArrayLike | None) -> dict:
    """{label: {"precision", "recall", "f1", "support"}} in the order of `confusion`."""
    from sklearn.metrics import precision_recall_fscore_support

    y_true, y_pred = as_labels(y_true), as_labels(y_pred)
    labels = _report_labels(classes, y_true, y_pred)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        p, r, f, support = precision_recall_fscore_support(
            y_true, y_pred, labels=labels, average=None, zero_division=0)
    return {
        label: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                "support": int(support[i])}
        for i, label in enumerate(labels)
    }


def _selection_metric(n_classes: int | None) -> str:
    """A proper metric of the probabilities, as FLAML chooses: roc_auc for two classes, log_loss
    for more (and when the number of classes is not known)."""
    return "roc_auc" if n_classes == 2 else "log_loss"


def _score(y_true: Any, y_pred: Any, proba: Any = None, classes: Any = None, X: Any = None,
           positive: Any = None) -> dict[str, float]:
    return classification_metrics(y_true, y_pred, proba=proba, classes=classes, positive=positive)


TASK = Task(name="classification", metrics=METRICS, lower_is_better=frozenset({"log_loss"}), supervised=True,
            labels=True, default_split="stratified", prediction="label",
            plots=("confusion_matrix", "roc_curve", "pr_curve", "calibration_curve"),
            auto_candidates=("logistic_regression", "hist_gradient_boosting", "xgboost", "lightgbm", "random_forest",
                             "catboost"),
            cv_report=("accuracy", "balanced_accuracy", "f1", "f1_macro", "roc_auc", "log_loss"),
            selection_metric=_selection_metric, score=_score)
