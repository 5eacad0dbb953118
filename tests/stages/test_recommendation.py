"""The recommendation task through the real `mlw` command: prepare's cleaning counts and splits,
train's ranker chosen on a validation split with the rating model beside it, evaluate's metrics
beside the popularity and bias baselines on the same split, and the errors a user can make."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from ..conftest import DATA, write_config
from .conftest import run_cli, run_json

MOVIES = {
    "project": "movies",
    "data": {"source": {"path": "ratings.csv"}, "user_column": "user_id", "item_column": "movie_id",
             "rating_column": "rating", "rating_scale": [0.5, 5], "time_column": "timestamp",
             "items": {"path": "movies.csv"}},
    "prepare": {"split": {"method": "user_time", "test_size": 0.2}},
    "train": {"task": "recommendation", "model": "auto", "rating_model": "mf"},
}


def movies_project(folder: Path, ratings: pd.DataFrame | None = None, **sections: dict) -> Path:
    if ratings is None:
        shutil.copy(DATA / "ratings.csv", folder / "ratings.csv")
    else:
        ratings.to_csv(folder / "ratings.csv", index=False)
    shutil.copy(DATA / "movies.csv", folder / "movies.csv")
    config = {**MOVIES}
    for name, values in sections.items():
        config[name] = {**config.get(name, {}), **values}
    return write_config(folder, config)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("movies")
    config = movies_project(folder)
    code, result, err = run_json("run", config)
    assert code == 0, err
    return config, {step["stage"]: step for step in result["steps"]}


def _manifest(config: Path, stage: str) -> dict:
    import json

    store = config.parent / "artifacts" / "movies" / stage
    latest = sorted(p for p in store.iterdir() if p.is_dir())[-1]
    return json.loads((latest / "manifest.json").read_text()) | {"path": str(latest)}


def test_the_movie_recommender_beats_its_baselines_on_each_users_newest_ratings(trained):
    config, steps = trained
    prepare = _manifest(config, "prepare")["info"]
    assert prepare["task"] == "recommendation" and prepare["split_method"] == "user_time"
    assert (prepare["users"], prepare["items"], prepare["test_users"]) == (800, 500, 800)
    assert prepare["metadata"] == {"items": 500, "unmatched": 0}
    train = _manifest(config, "train")["info"]
    assert train["model"] in ("als", "ease") and [r["rank"] for r in train["leaderboard"]] == [1, 2]
    assert train["leaderboard"][0]["model"] == train["model"] and train["rating_model"]["model"] == "mf"
    evaluation = _manifest(config, "evaluate")
    metrics, baselines = evaluation["metrics"], evaluation["info"]["baselines"]
    assert set(metrics) == {"ndcg", "precision", "recall", "map", "hit_rate", "coverage", "mean_popularity",
                            "rmse", "mae"}
    assert metrics["ndcg"] > 1.5 * baselines["popularity"]["ndcg"] > 0
    assert metrics["rmse"] < 0.99 * baselines["bias"]["rmse"]
    assert "rmse" not in baselines["popularity"]          # popularity predicts no ratings
    assert metrics["coverage"] > baselines["popularity"]["coverage"]
    assert evaluation["info"]["lift_over_popularity"]["ndcg"] == pytest.approx(
        metrics["ndcg"] / baselines["popularity"]["ndcg"])
    folder = Path(evaluation["path"])
    assert (folder / "ndcg_by_activity.png").stat().st_size > 5000
    report = (folder / "report.html").read_text()
    assert "ndcg@10" in report and "popularity" in report and "bias" in report
    # the lists: k per test user, never an item the user rated in training
    lists = pd.read_parquet(folder / "predictions.parquet")
    rows = pd.read_parquet(Path(_manifest(config, "prepare")["path"]) / "train.parquet")
    assert lists.groupby("user_id").size().eq(10).all() and lists["user_id"].nunique() == 800
    seen = set(zip(rows["user_id"], rows["movie_id"]))
    assert not any((u, i) in seen for u, i in zip(lists["user_id"], lists["movie_id"]))
    test = pd.read_parquet(Path(_manifest(config, "prepare")["path"]) / "test.parquet")
    chosen = set(zip(test["user_id"], test["movie_id"]))
    assert lists["chosen"].tolist() == [(u, i) in chosen for u, i in zip(lists["user_id"], lists["movie_id"])]


def test_prepare_counts_what_it_drops_and_keeps_the_newest_of_duplicate_ratings(tmp_path):
    ratings = pd.read_csv(DATA / "ratings.csv").head(4000)
    first = ratings.iloc[0]
    extra = pd.DataFrame([
        {**first, "rating": 1.0, "timestamp": "2030-01-01T00:00:00"},     # the same pair, newer: kept
        {**first, "rating": 7.5},                                           # outside the scale
        {**first, "movie_id": 2, "rating": "lots"},                          # not a number
        {**first, "user_id": None},                                          # nobody
        {"user_id": 99_999, "movie_id": 123_456, "rating": 3.0, "timestamp": "2020-01-01T00:00:00"},
    ])
    messy = pd.concat([ratings.astype({"rating": object}), extra], ignore_index=True)
    config = movies_project(tmp_path, messy, prepare={"min_user_interactions": 2})
    assert run_json("ingest", config)[0] == 0
    code, result, err = run_json("prepare", config)
    assert code == 0, err
    info = result["info"]
    once = int((ratings["user_id"].value_counts() == 1).sum())      # users with a single rating so far
    assert info["dropped"] == {"missing_user_or_item": 1, "rating_not_a_number": 1, "outside_rating_scale": 1,
                               "duplicate_interactions": 1, "rare_users": once + 1}
    assert info["rows_out"] == 4000 - once and info["metadata"]["unmatched"] == 0
    folder = Path(result["path"])
    kept = pd.concat([pd.read_parquet(folder / f"{s}.parquet") for s in ("train", "test")])
    pair = kept[(kept["user_id"] == first["user_id"]) & (kept["movie_id"] == first["movie_id"])]
    assert pair["rating"].tolist() == [1.0]


@pytest.mark.parametrize("split", [{"method": "random", "seed": 3}, {"method": "time"},
                                   {"method": "user_time"}, {"method": "user_time", "last_n": 2}])
def test_splits_hold_out_what_they_say(tmp_path, split):
    config = movies_project(tmp_path, pd.read_csv(DATA / "ratings.csv").head(6000), prepare={"split": split})
    assert run_json("ingest", config)[0] == 0
    code, result, err = run_json("prepare", config)
    assert code == 0, err
    folder = Path(result["path"])
    train, test = (pd.read_parquet(folder / f"{s}.parquet") for s in ("train", "test"))
    assert len(train) + len(test) == 6000 and result["info"]["split_method"] == split["method"]
    if split["method"] == "random":
        assert abs(len(test) - 1200) <= 1
        again = run_json("prepare", config, "--force")[1]
        assert pd.read_parquet(Path(again["path"]) / "test.parquet").equals(test)   # seeded
    elif split["method"] == "time":
        assert test["timestamp"].min() >= train["timestamp"].max() and len(test) == 1200
    else:
        newest = train.groupby("user_id")["timestamp"].max()
        oldest_test = test.groupby("user_id")["timestamp"].min()
        assert (oldest_test >= newest.reindex(oldest_test.index)).all()  # each user's newest are held out
        assert set(test["user_id"]) <= set(train["user_id"])             # every user keeps some to learn from
        if "last_n" in split:
            assert test.groupby("user_id").size().max() == 2


def test_implicit_interactions_train_a_ranker_and_no_rating_model(tmp_path):
    views = pd.read_csv(DATA / "ratings.csv").drop(columns=["rating"])
    config = movies_project(tmp_path, views, data={"rating_column": None, "rating_scale": None},
                            train={"model": "als", "rating_model": "auto"})
    code, result, err = run_json("run", config)
    assert code == 0, err
    evaluation = _manifest(config, "evaluate")
    assert evaluation["info"]["rating_model"] is None and "rmse" not in evaluation["metrics"]
    assert list(evaluation["info"]["baselines"]) == ["popularity"]
    assert evaluation["metrics"]["ndcg"] > 1.5 * evaluation["info"]["baselines"]["popularity"]["ndcg"]


@pytest.mark.parametrize(("sections", "ratings", "stage", "code", "words"), [
    ({"train": {"model": "mf"}}, None, "train", 2, ["rating model", "train.rating_model: mf", "als"]),
    ({"train": {"model": "easy"}}, None, "train", 2, ["Did you mean 'ease'?"]),
    ({"train": {"model": "als", "params": {"factor": 8}}}, None, "train", 2, ["Did you mean 'factors'?"]),
    ({"train": {"metric": "rmse"}}, None, "train", 2, ["ranking metric", "rating model"]),
    ({"train": {"task": "classification"}}, None, "ingest", 2, ["recommendation config", "task: recommendation"]),
    ({"data": {"user_column": "who"}}, None, "prepare", 3, ["'who'", "user_id"]),
    ({}, pd.DataFrame({"user_id": [1] * 50, "movie_id": range(50), "rating": 3.0,
                       "timestamp": "2020-01-01"}), "prepare", 3, ["single user"]),
    ({}, pd.DataFrame({"user_id": [1, 2] * 25, "movie_id": range(50), "rating": "good",
                       "timestamp": "2020-01-01"}), "prepare", 3, ["holds no numbers", "'good'"]),
    ({"prepare": {"split": {"method": "stratified"}}}, None, "prepare", 2, ["does not apply to recommendation"]),
    ({}, pd.DataFrame({"user_id": [1, 2], "movie_id": [1, 2], "rating": 3.0, "timestamp": "2020-01-01"}),
     "prepare", 3, ["too few to split", "user_time"]),
])
def test_mistakes_get_a_clear_message_and_their_exit_code(tmp_path, sections, ratings, stage, code, words):
    config = movies_project(tmp_path, ratings, **sections)
    stages = ["ingest", "prepare", "train"]
    for earlier in stages[:stages.index(stage)]:
        assert run_json(earlier, config)[0] == 0
    got, _, err = run_json(stage, config)
    assert got == code, err
    assert "Traceback" not in err and all(word in err for word in words), err


def test_retrain_judges_both_recommenders_on_the_newest_ratings(tmp_path):
    import json

    ratings = pd.read_csv(DATA / "ratings.csv")
    cut = int(len(ratings) * 0.9)                       # the file is in time order
    ratings.iloc[:cut].to_csv(tmp_path / "first.csv", index=False)
    ratings.iloc[cut:].to_csv(tmp_path / "newer.csv", index=False)
    config = movies_project(tmp_path, ratings.iloc[:cut], train={"model": "ease"})
    assert run_json("run", config)[0] == 0
    assert run_cli("models", "promote", "latest", "--alias", "production", "-c", config)[0] == 0
    code, result, err = run_json("retrain", config, "--input", tmp_path / "newer.csv")
    assert code in (0, 1), err
    decision = json.loads((Path(result["path"]) / "decision.json").read_text())
    assert decision["metric"] == "ndcg" and decision["rows"]["test"] > 0
    mine, theirs = decision["challenger"]["metrics"], decision["champion"]["metrics"]
    assert {"ndcg", "rmse"} <= set(mine) and {"ndcg", "rmse"} <= set(theirs)
    assert decision["wins"] is (code == 0) and (mine["ndcg"] > theirs["ndcg"]) is (decision["gain"] > 0)
    prepare = _manifest(config, "prepare")["info"]
    assert prepare["rows_in"] == len(ratings)          # the newer ratings were appended through ingest


def test_monitor_tells_new_users_and_harsher_ratings_from_more_of_the_same(trained, tmp_path):
    config, _ = trained
    assert run_cli("models", "promote", "latest", "--alias", "production", "-c", config)[0] == 0
    ratings = pd.read_csv(DATA / "ratings.csv")
    same = ratings.sample(3000, random_state=1)
    newcomers = same.assign(user_id=same["user_id"] + 100_000)
    harsh = same.assign(rating=(same["rating"] - 1.5).clip(0.5, 5))
    found = {}
    for name, frame in (("same", same), ("newcomers", newcomers), ("harsh", harsh)):
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
        code, result, err = run_json("monitor", config, "--input", tmp_path / f"{name}.csv",
                                     "--set", 'monitor.gates={rmse: "<= 0.9", new_user_share: "<= 0.5"}')
        found[name] = (code, result["result"])
    code, same_result = found["same"]
    assert code == 0 and same_result["verdict"] == "ok" and same_result["newcomers"]["user_share"] == 0
    assert set(same_result["drift"]["checks"]) == {"activity", "items", "rating"}
    assert same_result["quality"]["metrics"]["rmse"] < 0.9
    code, new = found["newcomers"]
    assert code == 1 and new["newcomers"]["user_share"] == 1.0 and new["drift"]["checks"]["activity"]["verdict"] == "drift"
    assert "new_user_share" in [g["gate"] for g in new["gates"] if not g["passed"]]
    code, harsher = found["harsh"]
    assert code == 1 and harsher["drift"]["drifted"] == ["rating"]
    assert harsher["quality"]["metrics"]["rmse"] > 0.9 and harsher["quality"]["popularity"]["ndcg"] >= 0
    # the prediction log holds the served requests: none were served here
    code, _, err = run_json("monitor", config, "--log")
    assert code == 3 and "holds no requests" in err and "mlw serve" in err


def test_item_metadata_that_does_not_join_is_counted_and_said(tmp_path):
    config = movies_project(tmp_path, pd.read_csv(DATA / "ratings.csv").head(3000))
    movies = pd.read_csv(DATA / "movies.csv")
    movies[movies["movie_id"] > 100].to_csv(tmp_path / "movies.csv", index=False)   # the first 100 lack a row
    assert run_json("ingest", config)[0] == 0
    code, result, err = run_json("prepare", config)
    rated = pd.read_csv(DATA / "ratings.csv").head(3000)["movie_id"]
    missing = int(rated[rated <= 100].nunique())
    assert code == 0 and result["info"]["metadata"]["unmatched"] == missing > 0
    assert f"{missing:,} of {rated.nunique():,} items have no row in data.items" in result["warnings"][0]


def test_monitor_draws_no_drift_verdict_from_a_handful_of_interactions(trained, tmp_path):
    config, _ = trained
    assert run_cli("models", "promote", "latest", "--alias", "production", "-c", config)[0] == 0
    pd.read_csv(DATA / "ratings.csv").head(3).to_csv(tmp_path / "few.csv", index=False)
    code, result, err = run_json("monitor", config, "--input", tmp_path / "few.csv")
    assert code == 0 and result["result"]["verdict"] == "ok"
    assert all(check["verdict"] == "none" for check in result["result"]["drift"]["checks"].values())
    assert "too few to judge drift" in result["warnings"][0]
