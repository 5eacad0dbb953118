"""A model's scores and metrics on one frame of prepared rows, through the ScoringModel that users'
predictions come from: what `mlw evaluate` reports on the test split and what `mlw retrain` judges
the champion and the challenger by, on the same rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlflow_cli.models.metrics import compute_metrics
from mlflow_cli.models.scoring.model import ScoringModel
from mlflow_cli.models.tasks import task_named


@dataclass
class Scored:
    """A model's predictions on one frame."""

    y_true: Any
    y_pred: Any
    proba: Any = None
    classes: list[Any] | None = None
    metrics: dict[str, float] = field(default_factory=dict)


def score(model: ScoringModel, frame: Any, task: str, target: str | None) -> Scored:
    """The model's scores on a pandas frame of prepared rows (the preprocessing runs once for
    labels and probabilities)."""
    y_true = frame[target].to_numpy() if target else None
    if not task_named(task).supervised:  # clusters: metrics from the features the clusterer saw
        features = model.features(frame)
        fitted = model.estimator
        if hasattr(fitted, "predict"):
            y_pred = fitted.predict(features)
        else:  # DBSCAN, agglomerative: no predict; cluster the test rows with the same settings
            y_pred = fitted.fit_predict(features.toarray() if hasattr(features, "toarray") else features)
        return Scored(y_true, y_pred, metrics=compute_metrics(task, y_true, y_pred, X=features))
    scores = model.score(frame)
    classes = None if model.classes is None else list(model.classes) or None
    metrics = compute_metrics(task, y_true, scores.predictions, proba=scores.proba, classes=classes,
                              positive=model.positive)
    return Scored(y_true, scores.predictions, scores.proba, classes, metrics)
