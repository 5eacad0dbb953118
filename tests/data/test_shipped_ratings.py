"""The shipped movie ratings (data/ratings.csv, data/movies.csv, from data/make_samples.py) have
the structure a recommender needs to learn: ratings on the 0.5-5 scale in halves that join the
movies, power-law popularity, user and movie effects that predict later ratings, and tastes by
genre that carry from a user's earlier ratings to their later ones."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..conftest import DATA


def _ratings() -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_csv(DATA / "ratings.csv"), pd.read_csv(DATA / "movies.csv")


def test_ratings_are_on_the_scale_and_join_the_movies():
    ratings, movies = _ratings()
    assert len(ratings) > 30_000 and ratings["user_id"].nunique() == 800 and len(movies) == 500
    assert set(ratings["rating"].unique()) <= set(np.arange(1, 11) / 2)
    assert ratings["movie_id"].isin(movies["movie_id"]).all() and movies["title"].is_unique
    assert not ratings.duplicated(["user_id", "movie_id"]).any()
    assert ratings["timestamp"].is_monotonic_increasing
    counts = ratings["movie_id"].value_counts()
    assert counts.head(50).sum() / len(ratings) > 0.3  # a tenth of the movies draw a third of the ratings


def test_user_and_movie_effects_and_genre_tastes_predict_later_ratings():
    ratings, movies = _ratings()
    cut = ratings["timestamp"].iloc[int(len(ratings) * 0.8)]
    train, test = ratings[ratings["timestamp"] < cut], ratings[ratings["timestamp"] >= cut]
    mean = train["rating"].mean()
    users = (train["rating"] - mean).groupby(train["user_id"]).agg(["sum", "size"])
    user_bias = users["sum"] / (users["size"] + 5)
    rest = train["rating"] - mean - train["user_id"].map(user_bias)
    items = rest.groupby(train["movie_id"]).agg(["sum", "size"])
    item_bias = items["sum"] / (items["size"] + 5)
    predicted = mean + test["user_id"].map(user_bias).fillna(0) + test["movie_id"].map(item_bias).fillna(0)
    rmse = lambda p: float(np.sqrt(np.mean((test["rating"] - p) ** 2)))  # noqa: E731
    assert rmse(predicted) < rmse(mean) - 0.1
    # a user's mean rating of a genre before the cut predicts it after
    genre = movies.set_index("movie_id")["genres"].str.split("|").str[0]
    def by_genre(rows):
        return (rows["rating"] - mean).groupby([rows["user_id"], rows["movie_id"].map(genre)]).mean()
    both = pd.concat([by_genre(train), by_genre(test)], axis=1, keys=["before", "after"]).dropna()
    assert both["before"].corr(both["after"]) > 0.3
