"""The metric catalogue: which metrics each task has, how each is computed, and gates.

`mlw train` scores cross-validation folds with `make_scorer_for`; `mlw evaluate` scores the
held-out set with `compute_metrics` and checks `evaluate.gates` with `parse_gate`/`compare`.
Both go through the same per-metric functions below, so a CV score and a held-out score
of the same name always mean the same thing.

Conventions that hold everywhere:
- Binary classification: the positive label is `classes[1]`, the second of the sorted
  classes (the estimator's `classes_` order), e.g. "yes" of ["no", "yes"], 1 of [0, 1].
  Unsuffixed precision/recall/f1 are for that label; on multiclass they are macro averages.
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
import warnings
from typing import TYPE_CHECKING, Any

from mlflow_cli.core.errors import ConfigError

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

TASK_METRICS: dict[str, tuple[str, ...]] = {
    "classification": (
        "accuracy", "balanced_accuracy",
        "precision", "recall", "f1",
        "precision_macro", "recall_macro", "f1_macro",
        "precision_weighted", "recall_weighted", "f1_weighted",
        "roc_auc", "pr_auc", "log_loss",
    ),
    "regression": ("mse", "rmse", "mae", "r2", "mape", "median_ae"),
    "clustering": ("silhouette", "davies_bouldin", "calinski_harabasz", "ari", "nmi"),
}

_LOWER_IS_BETTER = frozenset({"log_loss", "mse", "rmse", "mae", "mape", "median_ae", "davies_bouldin"})

GREATER_IS_BETTER: dict[str, bool] = {
    name: name not in _LOWER_IS_BETTER for names in TASK_METRICS.values() for name in names
}

# Classification metrics computed from predict_proba rather than predicted labels.
PROBA_METRICS: frozenset[str] = frozenset({"roc_auc", "pr_auc", "log_loss"})

# Silhouette is O(n^2) in rows; above this it is computed on a seeded sample of rows.
SILHOUETTE_SAMPLE = 10_000
SILHOUETTE_SEED = 0
# davies_bouldin and calinski_harabasz need a dense X. A sparse X is densified only up to
# this many cells (80 MB as float64); above it those two metrics are left out rather than
# risking memory on a wide text matrix. silhouette works on sparse X directly.
DENSE_CELL_LIMIT = 10_000_000

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
    if task not in TASK_METRICS:
        raise ValueError(f"task must be one of {', '.join(TASK_METRICS)}; got {task!r}")


def default_metric(task: str, n_classes: int | None = None) -> str:
    """The metric that selects models when the config names none.

    With `n_classes` unknown, classification gets "f1": here unsuffixed f1 is already the
    macro average on multiclass data, so it is right either way.
    """
    _check_task(task)
    if task == "classification":
        return "f1_macro" if n_classes is not None and n_classes > 2 else "f1"
    return {"regression": "rmse", "clustering": "silhouette"}[task]


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


def plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (labels must be JSON-serialisable)."""
    return value.item() if type(value).__module__ == "numpy" else value


def _finite(results: dict[str, float | None]) -> dict[str, float]:
    """Drop metrics that came out undefined (None, NaN or infinite); make the rest floats."""
    out = {}
    for name, value in results.items():
        if value is not None and math.isfinite(value):
            out[name] = float(value)
    return out


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


# --------------------------------------------------------------------------- classification


def _label_metric(name: str, y_true, y_pred, classes) -> float:
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
        return score(y_true, y_pred, labels=[classes[1]], average=None, zero_division=0)[0]
    return score(y_true, y_pred, average=average or "macro", zero_division=0)


def _proba_metric(name: str, y_true, proba, classes) -> float | None:
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
        onehot = (y_true == classes[1]).reshape(-1, 1)
        proba = proba[:, 1:]
    else:
        onehot = label_binarize(y_true, classes=classes)
    positives = onehot.sum(axis=0)
    if ((positives == 0) | (positives == len(y_true))).any():
        return None
    if name == "roc_auc":
        return skm.roc_auc_score(onehot, proba, average="macro")
    return skm.average_precision_score(onehot, proba, average="macro")


def _as_labels(y):
    import numpy as np

    return np.asarray(y).ravel()


def _as_proba(proba, n_rows: int, classes):
    import numpy as np

    proba = np.asarray(proba, dtype=float)
    if proba.ndim != 2 or proba.shape != (n_rows, len(classes)):
        raise ValueError(
            f"proba must have shape (n_rows, n_classes) = ({n_rows}, {len(classes)}) to match "
            f"classes {list(classes)}; got {proba.shape}. Pass the estimator's classes_.")
    return proba


def classification_metrics(y_true: ArrayLike, y_pred: ArrayLike, proba: ArrayLike | None = None,
                           classes: ArrayLike | None = None) -> dict[str, float]:
    """Every classification metric that is defined for this data.

    `classes` is the estimator's `classes_` (sorted); without it the sorted labels of
    y_true and y_pred are used. roc_auc, pr_auc and log_loss need `proba` and are left out
    without it.
    """
    y_true, y_pred = _as_labels(y_true), _as_labels(y_pred)
    classes = _resolve_classes(classes, y_true, y_pred)
    if proba is not None:
        proba = _as_proba(proba, len(y_true), classes)
    results: dict[str, float | None] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)    # sklearn's UndefinedMetricWarning & co
        for name in TASK_METRICS["classification"]:
            if name not in PROBA_METRICS:
                results[name] = _label_metric(name, y_true, y_pred, classes)
            elif proba is not None:
                results[name] = _proba_metric(name, y_true, proba, classes)
    return _finite(results)


def confusion(y_true: ArrayLike, y_pred: ArrayLike, classes: ArrayLike | None) -> dict:
    """{"labels": [...], "matrix": [[...]]}: rows are true labels, columns predicted.

    Labels are the model's classes, then any label it never saw, so counts always sum to
    the number of rows.
    """
    from sklearn.metrics import confusion_matrix

    y_true, y_pred = _as_labels(y_true), _as_labels(y_pred)
    labels = _report_labels(classes, y_true, y_pred)
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    return {"labels": labels, "matrix": matrix.tolist()}


def per_class_report(y_true: ArrayLike, y_pred: ArrayLike, classes: ArrayLike | None) -> dict:
    """{label: {"precision", "recall", "f1", "support"}} in the order of `confusion`."""
    from sklearn.metrics import precision_recall_fscore_support

    y_true, y_pred = _as_labels(y_true), _as_labels(y_pred)
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


# --------------------------------------------------------------------------- regression


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
        return _finite({name: _regression_metric(name, y_true, y_pred)
                        for name in TASK_METRICS["regression"]})


# --------------------------------------------------------------------------- clustering


def clustering_metrics(X: Any, labels: ArrayLike, y_true: ArrayLike | None = None) -> dict[str, float]:
    """Internal metrics from X and the cluster labels; ari/nmi too when y_true is given.

    - Internal metrics need 2 <= clusters <= rows - 1 and are left out otherwise. Every
      label counts as a cluster, DBSCAN's noise (-1) included, as in scikit-learn.
    - silhouette uses at most SILHOUETTE_SAMPLE rows (seeded), and works on sparse X.
    - davies_bouldin and calinski_harabasz need dense X: a sparse X is densified when it
      has at most DENSE_CELL_LIMIT cells, otherwise they are left out.
    """
    import numpy as np
    from scipy import sparse
    from sklearn import metrics as skm

    labels = _as_labels(labels)
    results: dict[str, float | None] = {}
    n_rows, n_clusters = len(labels), len(np.unique(labels))
    if 2 <= n_clusters <= n_rows - 1:
        if sparse.issparse(X):
            X = sparse.csr_matrix(X)     # row-indexable, which sampling needs
            dense = X.toarray() if X.shape[0] * X.shape[1] <= DENSE_CELL_LIMIT else None
        else:
            X = dense = np.asarray(X)
        sample = SILHOUETTE_SAMPLE if n_rows > SILHOUETTE_SAMPLE else None
        try:
            results["silhouette"] = skm.silhouette_score(
                X, labels, sample_size=sample, random_state=SILHOUETTE_SEED)
        except ValueError:
            pass                         # the sample drew a single cluster
        if dense is not None:
            results["davies_bouldin"] = skm.davies_bouldin_score(dense, labels)
            results["calinski_harabasz"] = skm.calinski_harabasz_score(dense, labels)
    if y_true is not None:
        y_true = _as_labels(y_true)
        results["ari"] = skm.adjusted_rand_score(y_true, labels)
        results["nmi"] = skm.normalized_mutual_info_score(y_true, labels)
    return _finite(results)


# --------------------------------------------------------------------------- dispatch


def compute_metrics(task: str, y_true: ArrayLike | None, y_pred: ArrayLike,
                    proba: ArrayLike | None = None, classes: ArrayLike | None = None,
                    X: Any = None) -> dict[str, float]:
    """All defined metrics of `task`. For clustering, y_pred are the cluster labels, X is
    required, and y_true (optional) adds ari/nmi."""
    _check_task(task)
    if task == "classification":
        return classification_metrics(y_true, y_pred, proba=proba, classes=classes)
    if task == "regression":
        return regression_metrics(y_true, y_pred)
    if X is None:
        raise ValueError("clustering metrics need X")
    return clustering_metrics(X, y_pred, y_true=y_true)


# --------------------------------------------------------------------------- CV scorers


class MetricScorer:
    """A scikit-learn scorer, `scorer(estimator, X, y) -> float`, for one metric.

    It reads `estimator.classes_` at call time, which a `make_scorer(..., pos_label=...)`
    scorer cannot: the positive label is then always classes_[1] whatever the label type,
    and log_loss/roc_auc know every class even when a fold's y lacks one. Lower-is-better
    metrics come back negated (see `scorer_sign`); undefined ones as NaN, which
    cross_validate keeps and search CV ranks last.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.sign = scorer_sign(name)

    def __repr__(self) -> str:
        return f"make_scorer_for({self.name!r})"

    def __call__(self, estimator: Any, X: Any, y_true: ArrayLike) -> float:
        # No warnings.catch_warnings() here, unlike the held-out functions: CV may run
        # scorers in threads, and that context manager swaps process-wide filters.
        if self.name in TASK_METRICS["regression"]:
            import numpy as np

            y_true = np.asarray(y_true, dtype=float)
            value = _regression_metric(self.name, y_true, np.asarray(estimator.predict(X), dtype=float))
        elif self.name in PROBA_METRICS:
            y_true, classes = _as_labels(y_true), estimator.classes_
            proba = _as_proba(estimator.predict_proba(X), len(y_true), classes)
            value = _proba_metric(self.name, y_true, proba, classes)
        else:
            value = _label_metric(self.name, _as_labels(y_true), _as_labels(estimator.predict(X)),
                                  estimator.classes_)
        if value is None or not math.isfinite(value):
            return float("nan")
        return self.sign * float(value)


def make_scorer_for(name: str) -> MetricScorer:
    """A scorer for cross_validate / GridSearchCV (`scoring=` or a value in its dict).

    Classification and regression metrics only. roc_auc, pr_auc and log_loss call
    predict_proba. The score is the metric times `scorer_sign(name)`: negated for
    lower-is-better metrics, so that CV always maximises.
    """
    if name in TASK_METRICS["clustering"]:
        raise ValueError(f"{name!r} is a clustering metric; CV scorers exist for "
                         "classification and regression metrics only")
    scorer_sign(name)                      # unknown name -> ValueError
    return MetricScorer(name)


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
