"""FLAML's AutoML and AutoGluon's TabularPredictor on one prepared split, for bench_auto.py. Runs in
the benchmark's own environment (bench/out/auto-venv), never mlw's: they are competitors, not
dependencies.

    python auto_competitors.py JOB.json  ->  prints {"flaml": {...}, "autogluon": {...}} as JSON

JOB: {"train": parquet, "test": parquet, "target", "task": "binary"|"multiclass"|"regression",
"drop": [id columns], "budget": seconds, "seed", "tools": ["flaml", "autogluon"]}. Each result holds
the test rows' outputs (the positive class's probability, every class's, or values) and the wall time.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")

FLAML_METRIC = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}
AUTOGLUON_METRIC = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "root_mean_squared_error"}


def _frames(job: dict) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    train, test = pd.read_parquet(job["train"]), pd.read_parquet(job["test"])
    target = job["target"]
    drop = [c for c in job["drop"] if c in train.columns]
    X = train.drop(columns=[target, *drop])
    for column in X.columns:  # FLAML takes categories, not free strings
        if X[column].dtype == object or str(X[column].dtype).startswith("str"):
            X[column] = X[column].astype("category")
    Xt = test.drop(columns=[target, *drop])
    for column in Xt.columns:
        if column in X and str(X[column].dtype) == "category":
            Xt[column] = pd.Categorical(Xt[column], categories=X[column].cat.categories)
    return X, train[target], Xt


def flaml(job: dict) -> dict:
    from flaml import AutoML

    X, y, Xt = _frames(job)
    automl = AutoML()
    started = time.perf_counter()
    automl.fit(X, y, task="classification" if job["task"] != "regression" else "regression",
               metric=FLAML_METRIC[job["task"]], time_budget=job["budget"], seed=job["seed"], verbose=0,
               n_jobs=-1)
    seconds = time.perf_counter() - started
    return {"outputs": _outputs(automl, Xt, job["task"], list(automl.classes_) if job["task"] != "regression"
                                else None), "seconds": seconds, "best": automl.best_estimator}


def autogluon(job: dict) -> dict:
    from autogluon.tabular import TabularPredictor

    train, test = pd.read_parquet(job["train"]), pd.read_parquet(job["test"])
    drop = [c for c in job["drop"] if c in train.columns]
    train, test = train.drop(columns=drop), test.drop(columns=[job["target"], *drop])
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        predictor = TabularPredictor(label=job["target"], problem_type=job["task"],
                                     eval_metric=AUTOGLUON_METRIC[job["task"]], path=folder, verbosity=0)
        predictor.fit(train, time_limit=job["budget"])
        seconds = time.perf_counter() - started
        classes = list(predictor.class_labels) if job["task"] != "regression" else None
        outputs = _outputs(predictor, test, job["task"], classes)
        best = predictor.model_best
    return {"outputs": outputs, "seconds": seconds, "best": best}


def _outputs(model, X: pd.DataFrame, task: str, classes: list | None) -> dict:
    if task == "regression":
        return {"values": np.asarray(model.predict(X), dtype=float).tolist()}
    proba = model.predict_proba(X)
    proba = np.asarray(proba.to_numpy() if hasattr(proba, "to_numpy") else proba, dtype=float)
    return {"classes": [c if isinstance(c, str) else c.item() if hasattr(c, "item") else c for c in classes],
            "proba": proba.tolist()}


def main() -> None:
    job = json.loads(open(sys.argv[1]).read())
    out = {}
    for tool in job["tools"]:
        try:
            out[tool] = {"flaml": flaml, "autogluon": autogluon}[tool](job)
        except Exception as exc:  # a competitor failing is a result to report, not a crash
            out[tool] = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
