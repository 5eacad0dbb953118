"""The recommendation baselines: popularity (the most interacted-with items) and bias (the global
mean plus a user and an item bias, fitted by alternating regularised least squares, as
Surprise's `BaselineOnly` with `method: als` does). Users and items are any hashable ids; unknown
ones fall back (a new user gets the popular items; an unknown pair gets the global mean plus
whatever bias is known). Depends on numpy and pandas.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class Popularity:
    """Items ranked by how many interactions (or how much weight) they have."""

    counts: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))  # item -> weight, descending

    @classmethod
    def fit(cls, items: Any, weights: Any = None) -> Popularity:
        frame = pd.DataFrame({"item": np.asarray(items), "w": 1.0 if weights is None else np.asarray(weights, float)})
        counts = frame.groupby("item", sort=False)["w"].sum()
        # ties broken by item id, so the ranking does not depend on the rows' order
        ordered = counts.reset_index().sort_values(["w", "item"], ascending=[False, True], kind="stable")
        return cls(ordered.set_index("item")["w"])

    def recommend(self, k: int, exclude: Any = ()) -> list[Any]:
        """The k most popular items not in `exclude` (what the user has seen)."""
        seen = set(exclude)
        return [item for item in self.counts.index if item not in seen][:k]


@dataclass
class Bias:
    """rating ~ mean + user bias + item bias (regularised; alternating least squares)."""

    mean: float
    user_bias: pd.Series
    item_bias: pd.Series

    @classmethod
    def fit(cls, users: Any, items: Any, ratings: Any, *, reg_user: float = 15.0, reg_item: float = 10.0,
            iterations: int = 10) -> Bias:
        """Surprise's defaults: reg_u 15, reg_i 10, 10 epochs. Each epoch sets every item's bias
        given the users', then every user's given the items'."""
        frame = pd.DataFrame({"u": np.asarray(users), "i": np.asarray(items), "r": np.asarray(ratings, float)})
        if frame.empty:
            raise ValueError("the bias model needs ratings")
        mean = float(frame["r"].mean())
        u_codes, u_index = pd.factorize(frame["u"])
        i_codes, i_index = pd.factorize(frame["i"])
        b_user, b_item = np.zeros(len(u_index)), np.zeros(len(i_index))
        n_user = np.bincount(u_codes, minlength=len(u_index))
        n_item = np.bincount(i_codes, minlength=len(i_index))
        residual = frame["r"].to_numpy() - mean
        for _ in range(iterations):
            b_item = np.bincount(i_codes, residual - b_user[u_codes], len(i_index)) / (reg_item + n_item)
            b_user = np.bincount(u_codes, residual - b_item[i_codes], len(u_index)) / (reg_user + n_user)
        return cls(mean, pd.Series(b_user, index=u_index), pd.Series(b_item, index=i_index))

    def predict(self, users: Any, items: Any) -> np.ndarray:
        """Predicted ratings of (user, item) pairs; an unknown user or item adds no bias."""
        bu = pd.Series(np.asarray(users)).map(self.user_bias).fillna(0.0).to_numpy()
        bi = pd.Series(np.asarray(items)).map(self.item_bias).fillna(0.0).to_numpy()
        return self.mean + bu + bi

    def recommend(self, k: int, exclude: Any = ()) -> list[Any]:
        """The k items with the highest bias not in `exclude` (a user's bias ranks every item alike)."""
        seen = set(exclude)
        ranked = self.item_bias.reset_index().set_axis(["item", "b"], axis=1).sort_values(
            ["b", "item"], ascending=[False, True], kind="stable")
        return [item for item in ranked["item"] if item not in seen][:k]
