"""The recommendation baselines: popularity counts and ties, seen items excluded; the bias model
equal to its closed form after one epoch, converging, beating the global mean on later ratings of
the shipped movies, and falling back for unknown users and items."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlflow_cli.models.recommend.baselines import Bias, Popularity

from ..conftest import DATA


def test_popularity_ranks_by_count_breaks_ties_by_id_and_excludes_seen_items():
    model = Popularity.fit(["b", "a", "c", "a", "b", "d", "a"])
    assert list(model.counts.index) == ["a", "b", "c", "d"] and model.counts.tolist() == [3, 2, 1, 1]
    assert model.recommend(2) == ["a", "b"] and model.recommend(2, exclude={"a"}) == ["b", "c"]
    assert model.recommend(10, exclude={"a", "b", "c", "d"}) == []
    weighted = Popularity.fit(["a", "b", "b"], weights=[5.0, 1.0, 1.0])
    assert weighted.recommend(1) == ["a"]


def test_bias_after_one_epoch_is_the_closed_form():
    users, items, ratings = ["u1", "u1", "u2", "u3"], ["x", "y", "x", "y"], [5.0, 3.0, 4.0, 1.0]
    model = Bias.fit(users, items, ratings, reg_user=2.0, reg_item=1.0, iterations=1)
    mean = 13 / 4
    b_x = ((5 - mean) + (4 - mean)) / (1 + 2)
    b_y = ((3 - mean) + (1 - mean)) / (1 + 2)
    assert model.mean == pytest.approx(mean)
    assert model.item_bias.to_dict() == pytest.approx({"x": b_x, "y": b_y})
    assert model.user_bias["u1"] == pytest.approx(((5 - mean - b_x) + (3 - mean - b_y)) / (2 + 2))
    assert model.user_bias["u3"] == pytest.approx((1 - mean - b_y) / (2 + 1))
    assert model.predict(["u1", "nobody"], ["x", "nothing"]).tolist() == pytest.approx(
        [mean + model.user_bias["u1"] + b_x, mean])
    assert model.recommend(5, exclude={"y"}) == ["x"]
    with pytest.raises(ValueError, match="needs ratings"):
        Bias.fit([], [], [])


def test_bias_beats_the_global_mean_on_later_ratings_of_the_shipped_movies():
    ratings = pd.read_csv(DATA / "ratings.csv")
    cut = int(len(ratings) * 0.8)
    train, test = ratings.iloc[:cut], ratings.iloc[cut:]  # the file is in time order
    model = Bias.fit(train["user_id"], train["movie_id"], train["rating"])
    longer = Bias.fit(train["user_id"], train["movie_id"], train["rating"], iterations=30)
    rmse = lambda p: float(np.sqrt(np.mean((test["rating"].to_numpy() - p) ** 2)))  # noqa: E731
    ours = rmse(model.predict(test["user_id"], test["movie_id"]))
    assert ours < rmse(np.full(len(test), train["rating"].mean())) - 0.1
    assert rmse(longer.predict(test["user_id"], test["movie_id"])) == pytest.approx(ours, abs=0.005)  # converged
    popular = Popularity.fit(train["movie_id"])
    assert popular.recommend(1) == [int(train["movie_id"].value_counts().idxmax())]
