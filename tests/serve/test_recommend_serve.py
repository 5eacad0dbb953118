"""`mlw serve` for the movie recommender, a real server on 127.0.0.1: /recommend for known and new
users, /recommend with a new user's ratings, /similar, /ratings changing the user's next list at
once and landing in the ratings log, /predict rating pairs, 422s naming the field, the ratings
surviving a hot reload, and the page driven in headless Chromium."""

from __future__ import annotations

import csv
import json
import time

import httpx
import pytest

from ..conftest import run_mlw
from ..stages.test_recommendation import movies_project
from .conftest import Project, start_server


@pytest.fixture(scope="module")
def movies(tmp_path_factory) -> Project:
    folder = tmp_path_factory.mktemp("movies-serve")
    config = movies_project(folder, train={"model": "ease"})
    assert run_mlw("run", "-c", config).exit_code == 0
    assert run_mlw("models", "promote", "latest", "--alias", "production", "-c", config).exit_code == 0
    registry = json.loads((folder / "artifacts" / "movies" / "registry.json").read_text())
    return Project(config, registry["aliases"]["production"]["version"])


def own_server(movies: Project, tmp_path) -> tuple[Project, object]:
    """A private copy of the trained project and a server on it (the test stops it)."""
    import shutil

    shutil.copytree(movies.folder, tmp_path / "copy")
    project = Project(tmp_path / "copy" / "mlw.yaml", movies.first)
    return project, start_server(project, "--set", "serve.reload_interval_s=0.2")


@pytest.fixture(scope="module")
def server(movies):
    running = start_server(movies, "--set", "serve.reload_interval_s=0.2")
    yield running
    running.stop()


def test_a_known_user_gets_unseen_items_with_titles_and_a_new_user_the_popular_ones(server):
    import pandas as pd

    from ..conftest import DATA

    ratings = pd.read_csv(DATA / "ratings.csv")
    with server.client() as client:
        body = client.get("/recommend/5", params={"k": 7}).json()
        assert body["user"] == 5 and body["known"] is True and body["note"] is None and len(body["items"]) == 7
        assert all(entry["title"].endswith(")") and "genres" in entry for entry in body["items"])
        scores = [entry["score"] for entry in body["items"]]
        assert scores == sorted(scores, reverse=True)
        train_seen = set(ratings.loc[ratings["user_id"] == 5, "movie_id"])
        assert len(train_seen & {entry["item"] for entry in body["items"]}) <= 7  # ids are the data's ints
        cold = client.get("/recommend/no-such-user", params={"k": 3}).json()
        assert cold["known"] is False and "popular" in cold["note"]
        counts = ratings["movie_id"].value_counts()
        assert cold["items"][0]["item"] == int(counts.index[0]) or cold["items"][0]["score"] == counts.iloc[0]
        similar = client.get("/similar/1", params={"k": 4}).json()
        assert similar["about"]["title"] and len(similar["items"]) == 4 and 1 not in [e["item"] for e in similar["items"]]
        assert client.get("/similar/999999").json()["known"] is False
        drama = client.get("/recommend/no-such-user", params={"k": 5, "genres": "drama"}).json()
        assert len(drama["items"]) == 5 and all("Drama" in e["genres"] for e in drama["items"])
        wrong = client.get("/recommend/5", params={"decade": "90s"})
        assert wrong.status_code == 422 and wrong.json()["detail"][0]["loc"] == ["query", "decade"]
        assert "title, genres, year" in wrong.json()["message"]
        for bad in ("0", "abc", "5000"):
            refused = client.get("/recommend/5", params={"k": bad})
            assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["query", "k"]


def test_a_new_user_with_a_few_ratings_is_folded_in_and_ranked_by_them(server):
    with server.client() as client:
        one = client.post("/recommend", json={"ratings": [{"item": 1, "rating": 5}, {"item": 2, "rating": 4.5}],
                                              "k": 5}).json()
        other = client.post("/recommend", json={"ratings": [{"item": 300, "rating": 5}], "k": 5}).json()
        assert one["known"] and len(one["items"]) == 5 and one["items"] != other["items"]
        assert not {1, 2} & {e["item"] for e in one["items"]}        # what they rated is not offered back
        unknown = client.post("/recommend", json={"ratings": [{"item": 123456, "rating": 4}]}).json()
        assert unknown["known"] is False


def test_new_ratings_change_the_next_list_at_once_and_are_logged(server, movies):
    with server.client() as client:
        before = client.get("/recommend/7").json()["items"]
        top = [entry["item"] for entry in before[:3]]
        recorded = client.post("/ratings", json={"ratings": [{"user": 7, "item": i, "rating": 5} for i in top]})
        assert recorded.status_code == 200, recorded.text
        assert recorded.json()["ratings"] == 3 and recorded.json()["new_users"] == 0
        after = [entry["item"] for entry in client.get("/recommend/7").json()["items"]]
        assert not set(top) & set(after) and after != [entry["item"] for entry in before]
        newcomer = client.post("/ratings", json={"ratings": [{"user": 90_001, "item": 1, "rating": 4.5}]}).json()
        assert newcomer["new_users"] == 1 and client.get("/recommend/90001").json()["known"] is True
    log = movies.folder / "artifacts" / "movies" / "ratings" / "ratings.csv"
    rows = list(csv.DictReader(log.open()))
    assert [r["movie_id"] for r in rows[-4:-1]] == [str(i) for i in top] and rows[-1]["user_id"] == "90001"
    assert set(rows[0]) == {"user_id", "movie_id", "rating", "timestamp"}


@pytest.mark.parametrize(("body", "loc", "words"), [
    ({"ratings": [{"user": 5, "item": 1, "rating": 9}]}, ["body", "ratings", 0, "rating"], "rating scale 0.5 to 5"),
    ({"ratings": [{"user": 5, "item": 1, "rating": "good"}]}, ["body", "ratings", 0, "rating"], "must be a number"),
    ({"ratings": [{"item": 1, "rating": 3}]}, ["body", "ratings", 0, "user"], "field required"),
    ({"ratings": []}, None, "at least one rating"),
    ({"ratings": [{"user": "ada", "item": 1, "rating": 3}]}, ["body", "ratings", 0, "user"], "must be a whole number"),
    ("not json", None, "not valid JSON"),
])
def test_bad_ratings_are_refused_with_422_naming_the_field(server, body, loc, words):
    with server.client() as client:
        sent = client.post("/ratings", content=body if isinstance(body, str) else json.dumps(body))
        assert sent.status_code == 422
        detail = sent.json()["detail"]
        text = json.dumps(sent.json())
        assert words in text
        if loc:
            assert detail[0]["loc"] == loc


def test_predict_rates_pairs_and_names_a_missing_field(server):
    with server.client() as client:
        body = client.post("/predict", json=[{"user_id": 5, "movie_id": 1}, {"user": "x", "item": 2},
                                             {"user_id": 5, "movie_id": 999999}]).json()
        assert 0.5 <= body["predictions"][0] <= 5 and 0.5 <= body["predictions"][1] <= 5
        assert body["predictions"][2] is None and body["known_users"] == [True, False, True]
        refused = client.post("/predict", json=[{"user_id": 5}])
        assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", 0, "movie_id"]
        metrics = client.get("/metrics").text
        assert 'endpoint="/recommend/{user}"' in metrics and 'endpoint="/ratings"' in metrics


def test_answered_lists_and_refusals_are_in_the_prediction_log(server, movies):
    with server.client() as client:
        answered = client.get("/recommend/5", params={"k": 3}, headers={"X-Request-ID": "rec-log-1"}).json()
        client.get("/recommend/5", params={"k": "x"}, headers={"X-Request-ID": "rec-log-2"})
    lines = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = [json.loads(line) for path in (movies.folder / "artifacts" / "movies" / "predictions").glob("*.jsonl")
                 for line in path.read_text().splitlines()]
        if {"rec-log-1", "rec-log-2"} <= {line["request_id"] for line in lines}:
            break
        time.sleep(0.2)
    mine = next(line for line in lines if line["request_id"] == "rec-log-1")
    assert mine["endpoint"] == "/recommend/{user}" and mine["inputs"] == {"user": 5, "known": True, "k": 3}
    assert mine["prediction"] == [entry["item"] for entry in answered["items"]]
    refused = next(line for line in lines if line["request_id"] == "rec-log-2")
    assert refused["status"] == 422 and refused["error"] == "invalid_input"
    # mlw monitor --log: the service's health from those lines
    done = run_mlw("monitor", "--log", "-c", movies.config, "--json", "--set", 'monitor.gates={error_rate: "<= 0.9"}')
    assert done.exit_code == 0, done.stderr
    answer = json.loads(done.stdout)
    health = answer["result"]["health"]
    logged = [item["log"] for item in answer["inputs"] if "log" in item]
    assert logged and logged[0], answer["inputs"]          # the log files read are recorded as inputs
    assert health["requests"] >= 2 and health["refused"] >= 1 and health["latency_p50_ms"] > 0
    assert "/recommend/{user}" in health["endpoints"]


def test_ratings_survive_a_hot_reload_to_a_retrained_model(movies, tmp_path):
    project, running = own_server(movies, tmp_path)
    try:
        with running.client() as client:
            client.post("/ratings", json={"ratings": [{"user": 90_002, "item": 1, "rating": 5}]})
            assert client.get("/recommend/90002").json()["known"] is True
            assert run_mlw("train", "-c", project.config, "--set", "train.model=als").exit_code == 0
            assert run_mlw("models", "promote", "latest", "--alias", "production", "-c", project.config).exit_code == 0
            deadline = time.monotonic() + 20
            while client.get("/health").json()["model_version"] == movies.first and time.monotonic() < deadline:
                time.sleep(0.2)
            moved = client.get("/recommend/90002").json()
            assert moved["model_version"] != movies.first and moved["known"] is True
    finally:
        running.stop()


def test_the_page_shows_a_users_list_and_rating_changes_it_in_chromium(server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = _chromium()
    try:
        driver.get(server.url + "/")
        assert "recommendations" in driver.find_element(By.TAG_NAME, "h1").text
        box = driver.find_element(By.ID, "user")
        box.clear()
        box.send_keys("11")
        driver.find_element(By.ID, "show").click()
        wait = WebDriverWait(driver, 20)
        ids = lambda d: d.execute_script(  # noqa: E731  (read in one call: the list is re-rendered)
            "return Array.from(document.querySelectorAll('#list li')).map(function(li){ return li.id; })")
        wait.until(lambda d: len(ids(d)) == 10)
        first = ids(driver)
        titles = driver.execute_script(
            "return Array.from(document.querySelectorAll('#list li strong')).map(function(s){ return s.textContent; })")
        assert len(titles) == 10 and all(t.endswith(")") for t in titles)
        item = first[0].removeprefix("item-")
        driver.find_element(By.ID, f"rate-{item}").click()
        wait.until(lambda d: len(ids(d)) == 10 and ids(d) != first)
        after = ids(driver)
        assert f"item-{item}" not in after
        assert "Top 10 for user 11" in driver.find_element(By.ID, "status").text
    finally:
        driver.quit()
    with httpx.Client(base_url=server.url) as client:
        assert int(item) not in [e["item"] for e in client.get("/recommend/11").json()["items"]]


def _chromium():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from .test_browser import CHROMEDRIVER, CHROMIUM

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--window-size=1200,1400"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    return driver


def test_interactions_ingest_appends_are_folded_into_the_served_model(movies, tmp_path):
    import pandas as pd

    project, running = own_server(movies, tmp_path)
    folder = project.folder
    try:
        with running.client() as client:
            before = client.get("/recommend/90003").json()
            assert before["known"] is False
            batch = pd.DataFrame({"user_id": [90_003] * 3, "movie_id": [1, 2, 3], "rating": [5.0, 4.5, 5.0],
                                  "timestamp": ["2026-01-02T10:00:00"] * 3})
            batch.to_csv(folder / "batch.csv", index=False)
            code = run_mlw("ingest", "--append", "--set", f"data.source.path={folder / 'batch.csv'}",
                           "-c", project.config).exit_code
            assert code == 0
            deadline = time.monotonic() + 20
            while not client.get("/recommend/90003").json()["known"] and time.monotonic() < deadline:
                time.sleep(0.2)
            after = client.get("/recommend/90003").json()
            assert after["known"] is True and not {1, 2, 3} & {e["item"] for e in after["items"]}
            assert after["model_version"] == movies.first          # no retrain: folded in
    finally:
        code, stderr = running.stop()
    assert "Folded in 3 interactions" in stderr
