"""The recommendation models (models/recommend/): popularity counts and ties; the bias model equal
to its closed form after one epoch; matrix factorisation beating the bias baseline on held-out
ratings and the ranking models beating popularity on the shipped movies; fold-in giving a user
the vector training gave them; seen items never recommended; new ratings changing a user's list
at once; unknown users and items falling back."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlflow_cli.models.recommend.algorithms import ALGORITHMS, AlternatingLeastSquares, Bias, Ease, \
    MatrixFactorization, Popularity
from mlflow_cli.models.recommend.interactions import Interactions, row_matrix
from mlflow_cli.models.recommend.ranking import ranking_metrics, rating_metrics
from mlflow_cli.models.recommend.recommender import Recommender, top_k

from ..conftest import DATA


@pytest.fixture(scope="module")
def movies():
    ratings = pd.read_csv(DATA / "ratings.csv")
    test = np.random.default_rng(0).random(len(ratings)) < 0.2
    train, held = ratings[~test], ratings[test]
    return Interactions.from_columns(train["user_id"], train["movie_id"], train["rating"]), held


def test_interactions_index_users_and_items_and_keep_the_last_of_duplicates_in_a_row():
    inter = Interactions.from_columns(["b", "a", "b"], [20, 10, 30], [4.0, 5.0, 1.0])
    assert list(inter.users) == ["a", "b"] and list(inter.items) == [10, 20, 30]
    assert inter.matrix.toarray().tolist() == [[5.0, 0, 0], [0, 4.0, 1.0]]
    assert row_matrix(np.array([2, 0, 2]), np.array([1.0, 2.0, 3.0]), 3).toarray().tolist() == [[2.0, 0, 3.0]]


def test_popularity_ranks_by_users_breaks_ties_by_id_and_excludes_seen_items():
    inter = Interactions.from_columns(["u1", "u2", "u3", "u1", "u2", "u4"], ["b", "a", "a", "c", "b", "d"])
    model = Recommender.fit(inter, Popularity())
    assert model.recommend("nobody", 4).items == ["a", "b", "c", "d"]
    assert model.recommend("nobody", 4).known is False
    assert model.recommend("u1", 2).items == ["a", "d"]          # b and c seen
    assert model.recommend("u1", 10).items == ["a", "d"]         # never more than the unseen items


def test_bias_after_one_epoch_is_the_closed_form_and_fold_in_repeats_the_user_step():
    inter = Interactions.from_columns(["u1", "u1", "u2", "u3"], ["x", "y", "x", "y"], [5.0, 3.0, 4.0, 1.0])
    bias = Bias(reg_user=2.0, reg_item=1.0, iterations=1)
    vectors = bias.fit(inter.matrix, 0)
    mean = 13 / 4
    b_x, b_y = ((5 - mean) + (4 - mean)) / 3, ((3 - mean) + (1 - mean)) / 3
    assert bias.offset == pytest.approx(mean) and bias.item_bias.tolist() == pytest.approx([b_x, b_y])
    assert vectors[0, 0] == pytest.approx(((5 - mean - b_x) + (3 - mean - b_y)) / 4)
    assert bias.fold_in(inter.matrix)[:, 0] == pytest.approx(vectors[:, 0])
    model = Recommender.fit(inter, Popularity(), bias)
    assert model.predict(["u1", "nobody", "u1"], ["x", "x", "nothing"])[:2].tolist() == pytest.approx(
        [mean + vectors[0, 0] + b_x, mean + b_x])
    assert np.isnan(model.predict(["u1"], ["nothing"])[0])
    with pytest.raises(ValueError, match="needs ratings"):
        Bias().fit(Interactions.from_columns([], []).matrix, 0)


def test_matrix_factorisation_beats_the_bias_baseline_on_held_out_ratings(movies):
    inter, held = movies
    bias = Recommender.fit(inter, Popularity(), Bias(), scale=(0.5, 5.0))
    mf = Recommender.fit(inter, Popularity(), MatrixFactorization(), seed=0, scale=(0.5, 5.0))
    truth = held["rating"]
    bias_rmse = rating_metrics(truth, bias.predict(held["user_id"], held["movie_id"]))["rmse"]
    mf_rmse = rating_metrics(truth, mf.predict(held["user_id"], held["movie_id"]))["rmse"]
    assert mf_rmse < 0.98 * bias_rmse
    again = Recommender.fit(inter, Popularity(), MatrixFactorization(), seed=0)
    assert np.array_equal(again.rate_vectors, mf.rate_vectors)              # seeded
    # a training user folded in from their own ratings gets (nearly) the vector training gave them
    assert np.allclose(mf.rater.fold_in(inter.matrix[:5]), mf.rate_vectors[:5], atol=1e-4)


@pytest.mark.parametrize("name", ["als", "ease"])
def test_ranking_models_beat_popularity_and_never_recommend_seen_items(movies, name):
    inter, held = movies
    relevant = held.groupby("user_id")["movie_id"].apply(set)
    ndcg = {}
    for algorithm in (Popularity(), ALGORITHMS[name]()):
        model = Recommender.fit(inter, algorithm, seed=0)
        lists = model.recommend_many(relevant.index, 10)
        ndcg[algorithm.name] = ranking_metrics([r.items for r in lists], list(relevant), 10)["ndcg"]
        seen = pd.Series(inter.matrix.indptr[1:] - inter.matrix.indptr[:-1], index=inter.users)
        for user, ranked in zip(relevant.index[:50], lists[:50]):
            watched = set(inter.items[inter.matrix[inter.users.get_loc(user)].indices])
            assert len(ranked.items) == 10 and not watched & set(ranked.items) and seen[user] == len(watched)
            assert ranked.items == model.recommend(user, 10).items          # one user at a time alike
    assert ndcg[name] > 1.6 * ndcg["popularity"]


def test_new_ratings_change_a_users_list_at_once_and_a_new_user_is_folded_in(movies):
    inter, _ = movies
    model = Recommender.fit(inter, AlternatingLeastSquares(), MatrixFactorization(), seed=0)
    user = inter.users[0]
    before = model.recommend(user, 10)
    counts = model.add([user] * 3, before.items[:3], [5.0, 5.0, 5.0])
    after = model.recommend(user, 10)
    assert counts == {"ratings": 3, "users": 1, "new_users": 0, "unknown_items": 0}
    assert not set(before.items[:3]) & set(after.items) and after.items != before.items
    assert model.recommend_many([user], 10)[0].items == after.items
    # a new user: their ratings folded in; they rank like a training user with the same ratings
    row = inter.matrix[3]
    items, ratings = list(inter.items[row.indices]), row.data.tolist()
    fresh = model.recommend_new(items, ratings, 10)
    assert fresh.known and fresh.items == model.recommend(inter.users[3], 10).items
    assert model.add(["newcomer"] * 2 + ["x"], items[:2] + ["no such movie"], [4.0, 3.0, 2.0])["new_users"] == 1
    assert model.is_known_user("newcomer") and model.recommend("newcomer", 5).known
    assert not np.isnan(model.predict(["newcomer"], [items[5]])[0])
    assert model.recommend_new(["no such movie"], [4.0], 3).known is False      # nothing known: popular


def test_similar_items_and_metadata_for_display(movies):
    inter, _ = movies
    meta = pd.read_csv(DATA / "movies.csv").set_index("movie_id")[["title", "genres"]]
    for algorithm in (Ease(), Popularity()):
        model = Recommender.fit(inter, algorithm, metadata=meta)
        item = int(inter.items[0])
        similar = model.similar(item, 5)
        assert len(similar.items) == 5 and item not in similar.items and similar.known
        assert model.similar("no such movie", 3).known is False
    described = model.describe([1, 999_999])
    assert described[0]["title"] == meta.loc[1, "title"] and described[1] == {}


def test_ranking_metrics_by_hand():
    lists = [["a", "b", "c"], ["x", "y", "z"], ["q"]]
    relevant = [{"b", "d"}, {"x"}, set()]
    got = ranking_metrics(lists, relevant, 3, popularity={"a": 0.5, "x": 1.0}, n_items=10)
    ndcg_1 = (1 / np.log2(3)) / (1 + 1 / np.log2(3))
    assert got["ndcg"] == pytest.approx((ndcg_1 + 1.0) / 2)
    assert got["precision"] == pytest.approx((1 / 3 + 1 / 3) / 2)
    assert got["recall"] == pytest.approx((0.5 + 1.0) / 2)
    assert got["map"] == pytest.approx(((1 / 2) / 2 + 1.0) / 2)
    assert got["hit_rate"] == 1.0 and got["coverage"] == pytest.approx(0.6)
    assert got["mean_popularity"] == pytest.approx(1.5 / 6)
    assert rating_metrics([1.0, 3.0], [2.0, np.nan]) == {"rmse": 1.0, "mae": 1.0}
    items, scores = top_k(np.array([[0.1, -np.inf, 0.9, 0.5]], np.float32), 3)[0]
    assert items.tolist() == [2, 3, 0] and top_k(np.array([[-np.inf, 1.0]]), 5)[0][0].tolist() == [1]


def test_a_metadata_filter_keeps_only_matching_items_for_known_and_new_users(movies):
    inter, _ = movies
    meta = pd.read_csv(DATA / "movies.csv").set_index("movie_id")[["title", "genres"]]
    model = Recommender.fit(inter, Ease(), metadata=meta)
    drama = model.matching({"genres": "drama"})
    for ranked in (model.recommend(inter.users[0], 10, drama), model.recommend("nobody", 10, drama),
                   model.similar(int(inter.items[0]), 5, drama)):
        assert ranked.items and all("Drama" in meta.loc[item, "genres"] for item in ranked.items)
    assert model.recommend("nobody", 10, drama).known is False
    with pytest.raises(ValueError, match="no column 'decade'; it has title, genres"):
        model.matching({"decade": "90s"})
