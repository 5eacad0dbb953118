"""Ranking metrics at k, from each user's list and the items they really chose (binary relevance,
as LensKit and RecBole compute them): precision, recall, NDCG, MAP and hit rate averaged over users,
plus catalogue coverage and the popularity of what is recommended. Rating metrics (RMSE, MAE) too.
numpy only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

RANKING_METRICS = ("ndcg", "precision", "recall", "map", "hit_rate", "coverage", "mean_popularity")
RATING_METRICS = ("rmse", "mae")


def hits_matrix(lists: Sequence[Sequence[Any]], relevant: Sequence[set[Any]], k: int) -> np.ndarray:
    """(users, k) booleans: whether the j-th recommended item is one the user chose."""
    hits = np.zeros((len(lists), k), dtype=bool)
    for u, (items, chosen) in enumerate(zip(lists, relevant)):
        for j, item in enumerate(list(items)[:k]):
            hits[u, j] = item in chosen
    return hits


def per_user_ndcg(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    k = hits.shape[1]
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = hits @ discounts
    ideal = np.cumsum(discounts)[np.clip(np.minimum(n_relevant, k), 1, k) - 1]
    return np.where(n_relevant > 0, dcg / ideal, 0.0)


def ranking_metrics(lists: Sequence[Sequence[Any]], relevant: Sequence[set[Any]], k: int, *,
                    popularity: dict[Any, float] | None = None, n_items: int | None = None) -> dict[str, float]:
    """Averages over the users with at least one relevant item. `popularity`: item -> the share of
    training users who interacted with it (mean_popularity averages it over the lists); `n_items`:
    the catalogue's size (coverage: the share of it recommended to anyone)."""
    keep = [i for i, chosen in enumerate(relevant) if chosen]
    if not keep:
        return {}
    lists = [list(lists[i])[:k] for i in keep]
    relevant = [relevant[i] for i in keep]
    hits = hits_matrix(lists, relevant, k)
    n_relevant = np.array([len(r) for r in relevant])
    found = hits.sum(axis=1)
    precision_at = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    average_precision = (precision_at * hits).sum(axis=1) / np.minimum(n_relevant, k)
    out = {"ndcg": per_user_ndcg(hits, n_relevant).mean(), "precision": (found / k).mean(),
           "recall": (found / n_relevant).mean(), "map": average_precision.mean(), "hit_rate": (found > 0).mean()}
    recommended = {item for items in lists for item in items}
    if n_items:
        out["coverage"] = len(recommended) / n_items
    if popularity is not None:
        shown = [popularity.get(item, 0.0) for items in lists for item in items]
        if shown:
            out["mean_popularity"] = float(np.mean(shown))
    return {name: float(value) for name, value in out.items()}


def rating_metrics(truth: Any, predicted: Any) -> dict[str, float]:
    """RMSE and MAE over the pairs with a prediction (an unknown item has none)."""
    truth, predicted = np.asarray(truth, float), np.asarray(predicted, float)
    known = np.isfinite(predicted)
    if not known.any():
        return {}
    errors = truth[known] - predicted[known]
    return {"rmse": float(np.sqrt(np.mean(errors ** 2))), "mae": float(np.mean(np.abs(errors)))}
