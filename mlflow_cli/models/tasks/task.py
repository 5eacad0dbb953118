"""What a task is: everything mlw does differently for classification, regression, clustering or
recommendation,
in one record, so a stage asks its task instead of testing the task's name. No heavy imports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    name: str
    metrics: tuple[str, ...]                   # every metric, in report order
    lower_is_better: frozenset[str]
    supervised: bool                           # learns a target column (CV, target encoding, a scored target)
    labels: bool                               # predicts class labels: classes, probabilities, class balance
    default_split: str                         # prepare.split.method auto, without time or group columns
    prediction: str                            # what `prediction` holds: "label", "value" or "cluster" (an id)
    plots: tuple[str, ...]                     # reports/plots.py drawings evaluate makes, in order
    auto_candidates: tuple[str, ...]           # catalogue models `model: auto` tries, in order
    cv_report: tuple[str, ...]                 # metrics train's cross-validation reports beside train.metric
    selection_metric: Callable[[int | None], str]  # the metric that picks models, given the number of classes
    score: Callable[..., dict[str, float]]     # (y_true, y_pred, proba=, classes=, X=, positive=) -> every defined metric
    interactions: bool = False                 # rows are (user, item[, rating]) interactions (recommendation)

    def default_metric(self, n_classes: int | None = None) -> str:
        return self.selection_metric(n_classes)
