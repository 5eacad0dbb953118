"""A recommender judged on held-out interactions: each user's top-k (what the model saw in training
excluded) against the items they chose, with ranking metrics at k and, for a rating model, RMSE and
MAE; and the popularity and bias baselines fitted on the same training rows. evaluate
(stages/evaluate/ranking.py) and retrain's champion/challenger judgement score through it.
Depends on numpy and pandas."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlflow_cli.models.recommend.algorithms import Bias, Popularity
from mlflow_cli.models.recommend.interactions import Interactions
from mlflow_cli.models.recommend.ranking import hits_matrix, per_user_ndcg, ranking_metrics, rating_metrics
from mlflow_cli.models.recommend.recommender import Recommender


class RankingJudge:
    """The test split of one prepare version: who chose what, and how to score any recommender on it."""

    def __init__(self, test: pd.DataFrame, train: pd.DataFrame, roles: dict[str, Any], k: int) -> None:
        self.roles, self.k = roles, k
        self.test, self.train = test, train
        self.relevant = test.groupby(roles["user"], sort=True)[roles["item"]].apply(set)
        self.activity = train[roles["user"]].value_counts().reindex(self.relevant.index).fillna(0).astype(int)

    def lists(self, model: Recommender) -> list[list[Any]]:
        return [r.items for r in model.recommend_many(self.relevant.index, self.k)]

    def metrics(self, model: Recommender, lists: list[list[Any]] | None = None) -> dict[str, float]:
        lists = self.lists(model) if lists is None else lists
        out = ranking_metrics(lists, list(self.relevant), self.k, popularity=model.popularity_share(),
                              n_items=len(model.items))
        if model.rater is not None and self.roles["rating"]:
            out.update(rating_metrics(self.test[self.roles["rating"]],
                                      model.predict(self.test[self.roles["user"]], self.test[self.roles["item"]])))
        return out

    def per_user_ndcg(self, lists: list[list[Any]]) -> np.ndarray:
        hits = hits_matrix(lists, list(self.relevant), self.k)
        return per_user_ndcg(hits, np.array([len(r) for r in self.relevant]))

    def baselines(self) -> dict[str, Recommender]:
        """popularity, and with ratings bias (which ranks by item bias and predicts the ratings)."""
        roles = self.roles
        values = self.train[roles["rating"]] if roles["rating"] else None
        data = Interactions.from_columns(self.train[roles["user"]], self.train[roles["item"]], values)
        scale = tuple(roles["scale"]) if roles["scale"] else None
        out = {"popularity": Recommender.fit(data, Popularity())}
        if values is not None:
            out["bias"] = Recommender.fit(data, Bias(), Bias(), scale=scale)
        return out
