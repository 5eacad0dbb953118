"""What `model: auto` tunes: each model family's key hyperparameters and their ranges (learning
rate, depth, leaves, regularisation, number of trees), as plain data an Optuna trial samples,
and the default time budget. The ranges follow the ones FLAML and AutoGluon search.

Optuna is imported by the caller (stages/train/auto.py), never here: `mlw --help` and config
checks import the catalogue's neighbours and must not pay for it.
"""

from __future__ import annotations

from typing import Any

# name -> (kind, low, high): "float", "log" (a float on a log scale), "int", "int_log"
_BOOSTED_TREES = {
    "n_estimators": ("int_log", 50, 1000), "learning_rate": ("log", 0.01, 0.3),
    "subsample": ("float", 0.5, 1.0), "colsample_bytree": ("float", 0.4, 1.0), "reg_lambda": ("log", 1e-3, 10.0),
}
_FOREST = {"n_estimators": ("int_log", 100, 500), "max_features": ("float", 0.1, 1.0),
           "min_samples_leaf": ("int_log", 1, 20)}
SPACES: dict[str, dict[str, tuple[str, float, float]]] = {
    "logistic_regression": {"C": ("log", 1e-3, 100.0)},
    "ridge": {"alpha": ("log", 1e-3, 1e3)},
    "random_forest": _FOREST,
    "extra_trees": _FOREST,
    "hist_gradient_boosting": {"max_iter": ("int_log", 50, 1000), "learning_rate": ("log", 0.01, 0.3),
                               "max_leaf_nodes": ("int_log", 8, 128), "min_samples_leaf": ("int_log", 2, 100),
                               "l2_regularization": ("log", 1e-6, 10.0)},
    "xgboost": {**_BOOSTED_TREES, "max_depth": ("int", 2, 10), "min_child_weight": ("log", 0.5, 20.0)},
    "lightgbm": {**_BOOSTED_TREES, "num_leaves": ("int_log", 8, 256), "min_child_samples": ("int_log", 2, 100)},
    "catboost": {"iterations": ("int_log", 100, 1000), "learning_rate": ("log", 0.01, 0.3), "depth": ("int", 3, 10),
                 "l2_leaf_reg": ("log", 1.0, 10.0)},
}
FIXED: dict[str, dict[str, Any]] = {
    "lightgbm": {"subsample_freq": 1},  # subsample needs bagging switched on
    "hist_gradient_boosting": {"early_stopping": True},  # max_iter is then a cap (10 % held out, 10 rounds)
}
TREES = ("n_estimators", "iterations", "max_iter")  # what a trial's cost grows with

# Parameters that bound leaf sizes: no more than a tenth of the rows a fold trains on.
_LEAF_SIZES = {"min_samples_leaf", "min_child_samples"}

DEFAULT_BUDGET_S = 60.0        # a table of ROWS_PER_MINUTE rows on a 2-core machine
ROWS_PER_MINUTE = 5000
BUDGET_BOUNDS_S = (15.0, 600.0)


def tunable(name: str) -> bool:
    return name in SPACES


def suggest(trial: Any, name: str, rows: int) -> dict[str, Any]:
    """One point of `name`'s space, sampled by an Optuna trial; `rows` bounds the leaf sizes."""
    params: dict[str, Any] = dict(FIXED.get(name, {}))
    for key, (kind, low, high) in SPACES[name].items():
        if key in _LEAF_SIZES:
            high = max(low + 1, min(high, rows // 10))
        if kind in ("int", "int_log"):
            params[key] = trial.suggest_int(key, int(low), int(high), log=kind == "int_log")
        else:
            params[key] = trial.suggest_float(key, low, high, log=kind == "log")
    return params


def trees_of(params: dict[str, Any], estimator: Any) -> float:
    """What a configuration's fitting time grows with: its trees (boosting rounds) times their
    leaves relative to 31 (max_leaf_nodes, num_leaves, or 2 ** depth); 100 for models without."""
    values = {**estimator.get_params(deep=False), **params}
    trees = next((values[k] for k in TREES if values.get(k) is not None), 100)
    leaves = values.get("max_leaf_nodes") or values.get("num_leaves")
    depth = values.get("max_depth") if "max_depth" in values else values.get("depth")
    if not leaves and isinstance(depth, int) and depth > 0:
        leaves = 2 ** min(depth, 10)
    return float(trees) * (float(leaves) / 31 if leaves else 1.0)


def default_budget(rows: int) -> float:
    """train.time_budget_s when the config gives none: 60 s for 5,000 rows, in proportion to the
    rows, between 15 s and 10 minutes."""
    low, high = BUDGET_BOUNDS_S
    return round(min(high, max(low, DEFAULT_BUDGET_S * rows / ROWS_PER_MINUTE)), 1)
