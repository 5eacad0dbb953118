"""The recommender (issue 13): quality against the popularity and bias baselines, and speed against
the library calls underneath, each measured in the same run.

Data: the shipped movies (38,592 ratings) and sets generated with the same structure
(data/make_samples.py: make_movies) of about 100,000 and 1,000,000 ratings (2,000 x 1,500 and
6,000 users x 4,000 items).

Quality (random 80/20 split, a global time split, and each user's newest fifth; seeded):
- mf RMSE vs bias RMSE                          target <= 0.98
- ranking NDCG@10 vs popularity's (random)      target >= 1.9
- new users (10% held out of training): their first half of ratings (by time) folded in, NDCG@10
  on their second half vs popularity's for them          target >= 1.2

Speed (100k; 1M):
- fit (ranker + mf) within 5 s; 30 s. Ratio: against the implicit library's own ALS fit.
- top-10 for all users within 1 s; 10 s. Ratio: against implicit's batch recommend.
- 1,000 new ratings folded in within 0.1 s. Ratio: against the refit they avoid.
- over HTTP (100k): one user's top-10 p50 within 5 ms, a new user with 20 ratings within 20 ms.
  Ratio: against GET /health on the same server.
- peak memory of `mlw train` at 1M within 2 GB.

    .venv/bin/python bench/bench_recommend.py [--sizes shipped,100k,1m] [--no-http]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))

from _common import MLW, ROOT, ensure_out, machine, measure  # noqa: E402

from mlflow_cli.models.recommend.algorithms import ALGORITHMS, Bias, MatrixFactorization, Popularity  # noqa: E402
from mlflow_cli.models.recommend.interactions import Interactions  # noqa: E402
from mlflow_cli.models.recommend.ranking import ranking_metrics, rating_metrics  # noqa: E402
from mlflow_cli.models.recommend.recommender import Recommender  # noqa: E402

SIZES = {"100k": dict(n_users=2000, n_items=1500, activity=3.62, max_activity=600),
         "1m": dict(n_users=6000, n_items=4000, activity=4.78, max_activity=2000)}
K = 10


def ratings_of(size: str) -> pd.DataFrame:
    if size == "shipped":
        return pd.read_csv(ROOT / "data" / "ratings.csv")
    import make_samples

    path = ensure_out() / f"ratings_{size}.csv"
    if not path.exists():
        _, ratings = make_samples.make_movies(np.random.default_rng(7), **SIZES[size])
        ratings.to_csv(path, index=False)
    return pd.read_csv(path)


def split(ratings: pd.DataFrame, how: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    if how == "random":
        test = np.random.default_rng(0).random(len(ratings)) < 0.2
        return ratings[~test], ratings[test]
    if how == "user_time":  # each user's newest fifth (every user keeps one rating to learn from)
        order = ratings.sort_values("timestamp", kind="stable")
        rank = order.groupby("user_id").cumcount(ascending=False)
        size = order.groupby("user_id")["movie_id"].transform("size")
        test = rank < np.floor(size * 0.2 + 0.5).clip(upper=size - 1)
        return order[~test], order[test]
    cut = ratings["timestamp"].sort_values().iloc[int(len(ratings) * 0.8)]
    return ratings[ratings["timestamp"] < cut], ratings[ratings["timestamp"] >= cut]


def fit(train: pd.DataFrame, name: str) -> tuple[Recommender, float]:
    data = Interactions.from_columns(train["user_id"], train["movie_id"], train["rating"])
    started = time.perf_counter()
    model = Recommender.fit(data, ALGORITHMS[name](), MatrixFactorization(), seed=0, scale=(0.5, 5.0))
    return model, time.perf_counter() - started


def ndcg(model: Recommender, test: pd.DataFrame) -> float:
    relevant = test.groupby("user_id")["movie_id"].apply(set)
    lists = [r.items for r in model.recommend_many(relevant.index, K)]
    return ranking_metrics(lists, list(relevant), K)["ndcg"]


def quality(ratings: pd.DataFrame, size: str) -> list[dict]:
    rows = []
    for how in ("random", "time", "user_time"):
        train, test = split(ratings, how)
        data = Interactions.from_columns(train["user_id"], train["movie_id"], train["rating"])
        popular = Recommender.fit(data, Popularity())
        bias = Recommender.fit(data, Bias(), Bias(), scale=(0.5, 5.0))
        base_ndcg = ndcg(popular, test)
        bias_rmse = rating_metrics(test["rating"], bias.predict(test["user_id"], test["movie_id"]))["rmse"]
        for name in ("als", "ease"):
            model, _ = fit(train, name)
            score = ndcg(model, test)
            rmse = rating_metrics(test["rating"], model.predict(test["user_id"], test["movie_id"]))["rmse"]
            rows.append({"size": size, "split": how, "model": name, "ndcg": score, "popularity_ndcg": base_ndcg,
                         "ndcg_ratio": score / base_ndcg, "mf_rmse": rmse, "bias_rmse": bias_rmse,
                         "rmse_ratio": rmse / bias_rmse})
    return rows


def fold_in(ratings: pd.DataFrame, size: str) -> list[dict]:
    users = ratings["user_id"].unique()
    new = set(np.random.default_rng(1).choice(users, max(len(users) // 10, 1), replace=False).tolist())
    train = ratings[~ratings["user_id"].isin(new)]
    held = ratings[ratings["user_id"].isin(new)].sort_values("timestamp", kind="stable")
    rows = []
    for name in ("als", "ease"):
        model, _ = fit(train, name)
        popular = Recommender.fit(Interactions.from_columns(train["user_id"], train["movie_id"]), Popularity())
        ours, base = [], []
        for _, group in held.groupby("user_id"):
            half = len(group) // 2
            first = group.iloc[:half]
            mine = model.recommend_new(first["movie_id"], first["rating"], K).items
            ours.append(mine)
            base.append(popular.recommend_new(first["movie_id"], None, K).items)  # popular, first half excluded
        relevant = [set(g["movie_id"].iloc[len(g) // 2:]) for _, g in held.groupby("user_id")]
        a = ranking_metrics(ours, relevant, K)["ndcg"]
        b = ranking_metrics(base, relevant, K)["ndcg"]
        rows.append({"size": size, "model": name, "new_users": len(relevant), "ndcg": a, "popularity_ndcg": b,
                     "ratio": a / b})
    return rows


def speed(ratings: pd.DataFrame, size: str) -> list[dict]:
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    rows = []
    for name in ("als", "ease"):
        model, seconds = fit(ratings, name)
        users = model.users
        started = time.perf_counter()
        model.recommend_many(users, K)
        all_users = time.perf_counter() - started
        # 1,000 new ratings by 100 users, folded in; against the refit they avoid
        rng = np.random.default_rng(3)
        who = rng.choice(users, 1000)
        what = rng.choice(model.items, 1000)
        started = time.perf_counter()
        model.add(who, what, rng.choice(np.arange(1, 11) / 2, 1000))
        folded = time.perf_counter() - started
        rows.append({"size": size, "model": name, "ratings": len(ratings), "fit_s": seconds,
                     "all_users_top10_s": all_users, "fold_1000_s": folded, "fold_vs_refit": folded / seconds})
    # the library's own calls, on the same matrix
    data = Interactions.from_columns(ratings["user_id"], ratings["movie_id"])
    with threadpool_limits(1, "blas"):
        als = AlternatingLeastSquares(factors=32, regularization=20.0, alpha=5.0, iterations=15, random_state=0)
        started = time.perf_counter()
        als.fit(data.matrix, show_progress=False)
        library_fit = time.perf_counter() - started
        started = time.perf_counter()
        als.recommend(np.arange(data.shape[0]), data.matrix, N=K, filter_already_liked_items=True)
        library_topk = time.perf_counter() - started
    for row in rows:
        row["implicit_fit_s"], row["implicit_top10_s"] = library_fit, library_topk
    return rows


def train_memory(ratings: pd.DataFrame, size: str) -> dict:
    """`mlw train` (als + mf) on the prepared set: wall and peak RSS of the real command."""
    import yaml

    folder = ensure_out() / f"recommend_{size}"
    folder.mkdir(exist_ok=True)
    ratings.to_csv(folder / "ratings.csv", index=False)
    config = {"project": "movies", "artifacts": "artifacts",
              "data": {"source": {"path": "ratings.csv"}, "user_column": "user_id", "item_column": "movie_id",
                       "rating_column": "rating", "rating_scale": [0.5, 5], "time_column": "timestamp"},
              "prepare": {"split": {"method": "random"}},
              "train": {"model": "als", "rating_model": "mf"}}
    (folder / "mlw.yaml").write_text(yaml.safe_dump(config))
    for stage in ("ingest", "prepare"):
        subprocess.run([MLW, stage, "-c", "mlw.yaml"], cwd=folder, check=True, capture_output=True)
    wall, peak = measure([MLW, "train", "-c", "mlw.yaml", "--force"], cwd=folder)
    return {"size": size, "train_wall_s": wall, "train_peak_mb": peak / 1024, "folder": folder}


def http(folder: Path, ratings: pd.DataFrame) -> dict:
    import httpx

    subprocess.run([MLW, "models", "promote", "latest", "--alias", "production", "-c", "mlw.yaml"], cwd=folder,
                   check=True, capture_output=True)
    port = 8791
    server = subprocess.Popen([MLW, "serve", "-c", "mlw.yaml", "--port", str(port)], cwd=folder,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        users = ratings["user_id"].unique()[:300]
        items = ratings["movie_id"].value_counts().index[:200].tolist()
        rng = np.random.default_rng(5)

        def p50(send, n: int = 300) -> float:
            times = []
            for i in range(n):
                started = time.perf_counter()
                response = send(i)
                times.append(time.perf_counter() - started)
                assert response.status_code == 200, response.text
            return statistics.median(times[20:]) * 1000

        with httpx.Client(base_url=url, timeout=10) as client:
            health = p50(lambda i: client.get("/health"))
            one = p50(lambda i: client.get(f"/recommend/{users[i % len(users)]}"))
            new = p50(lambda i: client.post("/recommend", json={"ratings": [
                {"item": int(item), "rating": float(r)} for item, r in
                zip(rng.choice(items, 20, replace=False), rng.choice(np.arange(1, 11) / 2, 20))]}))
        return {"health_p50_ms": health, "recommend_p50_ms": one, "new_user_20_p50_ms": new}
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="shipped,100k,1m")
    parser.add_argument("--no-http", action="store_true")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    report: dict[str, list] = {"quality": [], "fold_in": [], "speed": [], "train": [], "http": []}
    for size in args.sizes.split(","):
        ratings = ratings_of(size)
        print(f"\n== {size}: {len(ratings):,} ratings, {ratings['user_id'].nunique():,} users x "
              f"{ratings['movie_id'].nunique():,} items")
        for row in quality(ratings, size):
            report["quality"].append(row)
            print(f"quality {row['split']:>9} {row['model']:>4}: ndcg@10 {row['ndcg']:.4f} vs popularity "
                  f"{row['popularity_ndcg']:.4f} = {row['ndcg_ratio']:.2f}x (>= 1.9 on random); mf rmse "
                  f"{row['mf_rmse']:.4f} vs bias {row['bias_rmse']:.4f} = {row['rmse_ratio']:.3f} (<= 0.98)")
        for row in fold_in(ratings, size):
            report["fold_in"].append(row)
            print(f"fold-in {row['model']:>4}: {row['new_users']} new users, ndcg@10 on their second half "
                  f"{row['ndcg']:.4f} vs popularity {row['popularity_ndcg']:.4f} = {row['ratio']:.2f}x (>= 1.2)")
        if size == "shipped":
            continue
        for row in speed(ratings, size):
            report["speed"].append(row)
            print(f"speed {row['model']:>4}: fit {row['fit_s']:.2f} s ({row['fit_s'] / row['implicit_fit_s']:.2f}x "
                  f"implicit's ALS fit {row['implicit_fit_s']:.2f} s); top-10 for all users "
                  f"{row['all_users_top10_s']:.3f} s ({row['all_users_top10_s'] / row['implicit_top10_s']:.2f}x "
                  f"implicit's {row['implicit_top10_s']:.3f} s); 1,000 ratings folded in {row['fold_1000_s']:.4f} s "
                  f"({row['fold_vs_refit']:.4f}x a refit)")
        train = train_memory(ratings, size)
        report["train"].append({k: v for k, v in train.items() if k != "folder"})
        print(f"mlw train (als + mf): {train['train_wall_s']:.2f} s, peak {train['train_peak_mb']:.0f} MB")
        if size == "100k" and not args.no_http:
            found = http(train["folder"], ratings)
            report["http"].append(found)
            print(f"http: GET /recommend/{{user}} p50 {found['recommend_p50_ms']:.2f} ms, POST /recommend (20 "
                  f"ratings) p50 {found['new_user_20_p50_ms']:.2f} ms; GET /health p50 {found['health_p50_ms']:.2f} ms "
                  f"({found['recommend_p50_ms'] / found['health_p50_ms']:.2f}x, "
                  f"{found['new_user_20_p50_ms'] / found['health_p50_ms']:.2f}x)")
    (ensure_out() / "bench_recommend.json").write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
