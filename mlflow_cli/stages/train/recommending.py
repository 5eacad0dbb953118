"""`mlw train` for recommendation: the ranking model (train.model: als, ease, popularity, or auto,
which compares the candidates by train.metric at evaluate.k on a validation split) and, with
ratings, the rating model (train.rating_model: mf or bias), fitted together into one Recommender
(models/recommend/recommender.py) that evaluate, predict and serve load.

A rating model is never used to rank: rating models rank worse than popularity, so naming mf or
bias in train.model is an error that says where they go. Heavy (pandas, scipy): imported to run.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlflow_cli.core.config import Config
from mlflow_cli.core.errors import ConfigError, DataError, did_you_mean
from mlflow_cli.models.recommend.algorithms import ALGORITHMS, EASE_MAX_ITEMS, Algorithm
from mlflow_cli.models.recommend.interactions import Interactions
from mlflow_cli.models.recommend.ranking import RANKING_METRICS, ranking_metrics
from mlflow_cli.models.recommend.recommender import Recommender
from mlflow_cli.models.tasks.recommendation import RANKERS, RATERS

VALID_SHARE = 0.1        # auto without prepare's valid split: this share of each user's interactions
METADATA_COLUMNS = 8     # display columns kept from data.items


@dataclass
class RecommenderOutcome:
    model: Recommender
    model_name: str
    estimator: str
    params: dict[str, Any]
    metric: str
    rating_model: dict[str, Any] | None
    leaderboard: list[dict[str, Any]] | None
    fit_seconds: float
    warnings: list[str] = field(default_factory=list)


def train_recommender(config: Config, schema: dict[str, Any], train: pd.DataFrame, valid: pd.DataFrame | None,
                      metadata: pd.DataFrame | None) -> RecommenderOutcome:
    cfg, k = config.model.train, config.model.evaluate.k
    roles = schema["interactions"]
    metric = cfg.metric or "ndcg"
    if metric not in RANKING_METRICS:
        raise ConfigError(f"`train.metric` is '{metric}', but train.model is chosen by a ranking metric "
                          f"({', '.join(RANKING_METRICS)}); rmse and mae judge the rating model.",
                          hint="Use metric: ndcg (the default), or gate the rating model with evaluate.gates.rmse.")
    rater = _rating_model(cfg.rating_model, roles["rating"])
    names = _rankers(cfg.model, len(pd.unique(train[roles["item"]])))
    if cfg.model != "auto":
        _algorithm(cfg.model, cfg.params)  # bad params fail before any fitting
    elif cfg.params:
        raise ConfigError(f"`train.params` must be empty when `train.model` is auto (candidates are compared with "
                          f"their defaults). Got {cfg.params}.", hint="Name a model in train.model to set its params.")
    leaderboard = None
    warnings: list[str] = []
    if len(names) > 1:
        leaderboard = _compare(names, train, valid, roles, metric, k, cfg.seed, warnings)
        name = leaderboard[0]["model"]
    else:
        name = names[0]
    ranker = _algorithm(name, cfg.params if cfg.model != "auto" else {})
    started = time.perf_counter()
    data = _interactions(train, roles)
    model = Recommender.fit(data, ranker, rater, seed=cfg.seed, scale=tuple(roles["scale"]) if roles["scale"] else None,
                            metadata=_display(metadata, roles["item"]))
    fit_seconds = time.perf_counter() - started
    return RecommenderOutcome(
        model=model, model_name=name, estimator=_class_path(ranker), params=_params(ranker), metric=metric,
        rating_model={"model": rater.name, "estimator": _class_path(rater), "params": _params(rater)} if rater else None,
        leaderboard=leaderboard, fit_seconds=round(fit_seconds, 3), warnings=warnings)


def _rankers(name: str, n_items: int) -> list[str]:
    if name == "auto":
        return [n for n in ("als", "ease") if n != "ease" or n_items <= EASE_MAX_ITEMS]
    if name in RATERS:
        raise ConfigError(f"`train.model` is '{name}', a rating model: it predicts ratings, and rating models rank "
                          f"worse than popularity, so mlw does not rank with it.",
                          hint=f"Set train.rating_model: {name} for predicted ratings, and train.model to a ranking "
                               f"model ({', '.join(RANKERS)}) or auto.")
    if name not in RANKERS:
        raise ConfigError(f"`train.model` '{name}' is not a recommendation model.{did_you_mean(name, RANKERS)}",
                          hint=f"Ranking models: {', '.join(RANKERS)}, or auto (mlw models catalog lists them).")
    return [name]


def _rating_model(name: str, rating_column: str | None) -> Algorithm | None:
    if name == "none" or (name == "auto" and not rating_column):
        return None
    if not rating_column:
        raise ConfigError(f"`train.rating_model` is '{name}', but the data have no ratings (data.rating_column is "
                          f"not set).", hint="Set data.rating_column, or train.rating_model: none.")
    name = "mf" if name == "auto" else name
    if name not in RATERS:
        raise ConfigError(f"`train.rating_model` '{name}' is not a rating model.{did_you_mean(name, RATERS)}",
                          hint=f"Rating models: {', '.join(RATERS)}, or none.")
    return ALGORITHMS[name]()


def _algorithm(name: str, params: dict[str, Any]) -> Algorithm:
    kind = ALGORITHMS[name]
    allowed = [f.name for f in dataclasses.fields(kind) if f.init and f.name not in ("item_matrix", "offset", "model")]
    for key in params:
        if key not in allowed:
            raise ConfigError(f"`train.params` has '{key}', which {name} does not take.{did_you_mean(key, allowed)}",
                              hint=f"{name} takes: {', '.join(allowed) or 'no parameters'}.")
    try:
        return kind(**params)
    except TypeError as exc:
        raise ConfigError(f"`train.params` for {name}: {exc}.", hint=f"{name} takes: {', '.join(allowed)}.") from None


def _compare(names: list[str], train: pd.DataFrame, valid: pd.DataFrame | None, roles: dict[str, Any], metric: str,
             k: int, seed: int, warnings: list[str]) -> list[dict[str, Any]]:
    """Each candidate fitted on the training rows less a validation split, scored on it."""
    if valid is None or valid.empty:
        train, valid = _holdout(train, roles, seed)
    data = _interactions(train, roles)
    relevant = valid.groupby(roles["user"], sort=False)[roles["item"]].apply(set)
    board = []
    for name in names:
        started = time.perf_counter()
        model = Recommender.fit(data, ALGORITHMS[name](), seed=seed)
        lists = model.recommend_many(relevant.index, k)
        scores = ranking_metrics([r.items for r in lists], list(relevant), k,
                                 popularity=model.popularity_share(), n_items=len(model.items))
        board.append({"model": name, "score": round(scores.get(metric, float("nan")), 6), "metric": metric,
                      "seconds": round(time.perf_counter() - started, 3)})
    if not relevant.size:
        raise DataError("The validation split for train.model: auto holds no interactions.",
                        hint="Ingest more interactions, or name a model in train.model.")
    sign = -1 if metric == "mean_popularity" else 1
    for rank, row in enumerate(sorted(board, key=lambda r: -sign * r["score"]), start=1):
        row["rank"] = rank
    return sorted(board, key=lambda r: r["rank"])


def _holdout(train: pd.DataFrame, roles: dict[str, Any], seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """VALID_SHARE of each user's interactions (at random, seeded), every user keeping at least one."""
    rng = np.random.default_rng(seed)
    draw = pd.Series(rng.random(len(train)), index=train.index)
    rank = draw.groupby(train[roles["user"]]).rank(method="first")
    size = train.groupby(roles["user"])[roles["item"]].transform("size")
    held = rank <= np.floor(size * VALID_SHARE + 0.5).clip(upper=size - 1)
    return train[~held], train[held]


def _interactions(frame: pd.DataFrame, roles: dict[str, Any]) -> Interactions:
    values = frame[roles["rating"]] if roles["rating"] else None
    return Interactions.from_columns(frame[roles["user"]], frame[roles["item"]], values)


def _display(metadata: pd.DataFrame | None, item: str) -> pd.DataFrame | None:
    if metadata is None:
        return None
    columns = [c for c in metadata.columns if c != item][:METADATA_COLUMNS]
    return metadata.set_index(item)[columns]


def _params(algorithm: Algorithm) -> dict[str, Any]:
    return {f.name: getattr(algorithm, f.name) for f in dataclasses.fields(algorithm)
            if f.init and f.name not in ("item_matrix", "offset", "model")}


def _class_path(algorithm: Algorithm) -> str:
    kind = type(algorithm)
    return f"{kind.__module__}.{kind.__qualname__}"
