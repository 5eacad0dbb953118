"""The recommendation task: rows are (user, item[, rating]) interactions, not features and a target.
A model ranks items per user (judged by ranking metrics at k: evaluate.k, with seen items excluded)
and, with explicit ratings, predicts them (RMSE, MAE). Models live in models/recommend/; the
metrics in models/recommend/ranking.py. No heavy imports."""

from __future__ import annotations

from typing import Any

from mlflow_cli.models.tasks.task import Task

RANKING = ("ndcg", "precision", "recall", "map", "hit_rate", "coverage", "mean_popularity")
RATING = ("rmse", "mae")
RANKERS = ("als", "ease", "popularity")    # train.model
RATERS = ("mf", "bias")                   # train.rating_model
BASELINES = ("popularity", "bias")        # shown beside every model on the same split


def _score(*args: Any, **kwargs: Any) -> dict[str, float]:
    raise TypeError("recommendation metrics need lists and interactions: models/recommend/ranking.py")


TASK = Task(name="recommendation", metrics=RANKING + RATING, lower_is_better=frozenset({"rmse", "mae",
                                                                                        "mean_popularity"}),
            supervised=False, labels=False, default_split="random", prediction="items",
            plots=("ndcg_by_activity",), auto_candidates=("als", "ease"), cv_report=(),
            selection_metric=lambda n_classes: "ndcg", score=_score, interactions=True)
