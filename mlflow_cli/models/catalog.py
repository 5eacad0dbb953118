"""The model catalogue: short names -> estimator classes per task, parameter checks before
fitting, search spaces from YAML, and two small adapters (label encoding for XGBoost,
densifying sparse features for estimators that need dense input).

Classes are named by import path and imported only when used, so `mlw models catalog`
and config validation stay fast. The adapters that wrap fitted models live in adapters.py.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
from dataclasses import dataclass
from typing import Any

from mlflow_cli.models.tasks import TASKS
from mlflow_cli.core.errors import ConfigError, did_you_mean



@dataclass(frozen=True)
class ModelEntry:
    name: str
    classes: dict[str, str]
    defaults: dict[str, Any]
    description: str


def _entry(name: str, description: str, defaults: dict[str, Any] | None = None, **classes: str) -> ModelEntry:
    return ModelEntry(name, classes, defaults or {}, description)


_RECOMMEND = "mlflow_cli.models.recommend.algorithms"

CATALOG: dict[str, ModelEntry] = {e.name: e for e in [
    _entry("logistic_regression", "linear model, calibrated probabilities", {"max_iter": 2000},
           classification="sklearn.linear_model.LogisticRegression"),
    _entry("linear_regression", "ordinary least squares", regression="sklearn.linear_model.LinearRegression"),
    _entry("ridge", "linear model with L2 penalty", regression="sklearn.linear_model.Ridge",
           classification="sklearn.linear_model.RidgeClassifier"),
    _entry("lasso", "linear model with L1 penalty (sparse coefficients)", regression="sklearn.linear_model.Lasso"),
    _entry("elastic_net", "linear model with L1 + L2 penalty", regression="sklearn.linear_model.ElasticNet"),
    _entry("random_forest", "bagged decision trees", classification="sklearn.ensemble.RandomForestClassifier",
           regression="sklearn.ensemble.RandomForestRegressor"),
    _entry("extra_trees", "extremely randomised trees", classification="sklearn.ensemble.ExtraTreesClassifier",
           regression="sklearn.ensemble.ExtraTreesRegressor"),
    _entry("gradient_boosting", "boosted trees (exact)", classification="sklearn.ensemble.GradientBoostingClassifier",
           regression="sklearn.ensemble.GradientBoostingRegressor"),
    _entry("hist_gradient_boosting", "boosted trees on histograms (fast, handles NaN)",
           classification="sklearn.ensemble.HistGradientBoostingClassifier",
           regression="sklearn.ensemble.HistGradientBoostingRegressor"),
    _entry("svm", "support vector machine (RBF kernel)", {"probability": True},
           classification="sklearn.svm.SVC", regression="sklearn.svm.SVR"),
    _entry("knn", "k nearest neighbours", classification="sklearn.neighbors.KNeighborsClassifier",
           regression="sklearn.neighbors.KNeighborsRegressor"),
    _entry("naive_bayes", "Gaussian naive Bayes", classification="sklearn.naive_bayes.GaussianNB"),
    _entry("decision_tree", "a single decision tree", classification="sklearn.tree.DecisionTreeClassifier",
           regression="sklearn.tree.DecisionTreeRegressor"),
    _entry("mlp", "multi-layer perceptron", {"max_iter": 500}, classification="sklearn.neural_network.MLPClassifier",
           regression="sklearn.neural_network.MLPRegressor"),
    _entry("xgboost", "XGBoost gradient boosting (early stopping, device: cuda)", {"tree_method": "hist"},
           classification="xgboost.XGBClassifier", regression="xgboost.XGBRegressor"),
    _entry("lightgbm", "LightGBM gradient boosting (the `boost` extra)", {"verbose": -1},
           classification="lightgbm.LGBMClassifier", regression="lightgbm.LGBMRegressor"),
    _entry("catboost", "CatBoost gradient boosting on oblivious trees (the `boost` extra)",
           {"verbose": 0, "allow_writing_files": False, "iterations": 500},
           classification="catboost.CatBoostClassifier", regression="catboost.CatBoostRegressor"),
    _entry("kmeans", "k-means", {"n_init": "auto"}, clustering="sklearn.cluster.KMeans"),
    _entry("dbscan", "density-based clusters (finds outliers)", clustering="sklearn.cluster.DBSCAN"),
    _entry("agglomerative", "hierarchical clustering", clustering="sklearn.cluster.AgglomerativeClustering"),
    _entry("gaussian_mixture", "Gaussian mixture model", clustering="sklearn.mixture.GaussianMixture"),
    _entry("als", "implicit-feedback ALS (the implicit library): ranks", recommendation=f"{_RECOMMEND}.AlternatingLeastSquares"),
    _entry("ease", "EASE, closed-form item-item weights: ranks (catalogues up to 20k items)",
           recommendation=f"{_RECOMMEND}.Ease"),
    _entry("popularity", "the most interacted-with items (a baseline): ranks", recommendation=f"{_RECOMMEND}.Popularity"),
    _entry("mf", "biased matrix factorisation by ALS: predicts ratings (train.rating_model)",
           recommendation=f"{_RECOMMEND}.MatrixFactorization"),
    _entry("bias", "mean + user + item biases (a baseline): predicts ratings (train.rating_model)",
           recommendation=f"{_RECOMMEND}.Bias"),
]}

PARALLEL = {"random_forest", "extra_trees", "knn", "xgboost", "lightgbm", "catboost"}  # threads help here
THREADS = {"catboost": "thread_count"}  # the parameter that sets a model's threads, where it is not n_jobs
OPTIONAL = {"lightgbm": "lightgbm", "catboost": "catboost"}  # models whose library an extra installs

AUTO_CANDIDATES = {name: list(task.auto_candidates) for name, task in TASKS.items()}


def installed(name: str) -> bool:
    """Whether a catalogue model's library is importable (LightGBM and CatBoost are an extra)."""
    module = OPTIONAL.get(name)
    return module is None or importlib.util.find_spec(module) is not None


def threads_param(name: str) -> str:
    return THREADS.get(name, "n_jobs")


def parameters_of(estimator: Any) -> set[str]:
    """An estimator's parameter names: get_params, or its constructor's for CatBoost, whose
    get_params lists only the parameters given."""
    import inspect

    names = set(estimator.get_params(deep=False))
    signature = inspect.signature(type(estimator).__init__).parameters.values()
    names.update(p.name for p in signature if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL))
    return names


def set_threads(estimator: Any, n_jobs: int) -> Any:
    """Set the threads of a model (n_jobs, CatBoost's thread_count) where it uses them, through a
    Pipeline, a wrapper's `estimator` and an ensemble's members; unset parameters stay unset (setting
    n_jobs where it is deprecated, LogisticRegression since scikit-learn 1.8, warns)."""
    pending = [estimator]
    while pending:
        model = pending.pop()
        steps = getattr(model, "steps", None)
        if steps:
            pending.append(steps[-1][1])
            continue
        members = getattr(model, "estimators", None)
        if isinstance(members, list) and all(isinstance(m, tuple) for m in members):  # Voting, Stacking
            pending.extend(m for _, m in members)
            pending.extend(getattr(model, "estimators_", None) or [])
            continue
        inner = getattr(model, "estimator", None)
        if inner is not None and hasattr(inner, "get_params") and not hasattr(model, "n_estimators"):
            pending.append(inner)  # LabelEncodedClassifier (not a forest's template tree)
        if hasattr(model, "get_params"):
            params = model.get_params(deep=False)
            for key in ("n_jobs", "thread_count"):
                if params.get(key) not in (None, n_jobs):
                    model.set_params(**{key: n_jobs})
    return estimator


def _takes_any(cls: type) -> bool:
    """LightGBM's estimators take their library's parameters (verbose, ...) as **kwargs."""
    import inspect

    return any(p.kind is p.VAR_KEYWORD for p in inspect.signature(cls.__init__).parameters.values())


def catalog_rows() -> list[dict[str, Any]]:
    return [{"name": e.name, "tasks": sorted(e.classes), "class": ", ".join(sorted(set(e.classes.values()))),
             "description": e.description} for e in CATALOG.values()]


def class_path(name: str, task: str) -> str:
    """The public import path of the estimator a model name stands for."""
    entry = CATALOG.get(name)
    return entry.classes[task] if entry and task in entry.classes else name


def resolve_class(name: str, task: str, where: str = "`train.model`") -> tuple[type, dict[str, Any]]:
    """The estimator class and its catalogue defaults, or a ConfigError that says what exists."""
    entry = CATALOG.get(name)
    if entry is not None:
        if task not in entry.classes:
            fits = [e.name for e in CATALOG.values() if task in e.classes]
            raise ConfigError(f"{where} is '{name}', a model for {' and '.join(sorted(entry.classes))}; "
                              f"this project's task is {task}.",
                              hint=f"Models for {task}: {', '.join(fits)}.")
        return _import(entry.classes[task], where), dict(entry.defaults)
    if "." in name:
        cls = _import(name, where)
        if not hasattr(cls, "fit") or not hasattr(cls, "get_params"):
            raise ConfigError(f"{where} is '{name}', which does not follow the scikit-learn API (fit, get_params).",
                              hint="Use a scikit-learn compatible estimator class.")
        return cls, {}
    raise ConfigError(f"{where} is '{name}', which is not a known model.{did_you_mean(name, CATALOG)}",
                      hint="See `mlw models catalog`, or give an importable class path such as "
                           "sklearn.svm.LinearSVC.")


def _import(path: str, where: str) -> type:
    module_name, _, class_name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"{where}: cannot import '{path}' ({exc}).",
                          hint="Check the module and class name, and that the package is installed.") from None


def build_estimator(name: str, task: str, params: dict[str, Any], seed: int, n_jobs: int | None = None,
                    where: str = "train") -> Any:
    """Instantiate and check params against the estimator before any fitting."""
    cls, defaults = resolve_class(name, task, f"`{where}.model`")
    estimator = cls()
    valid = parameters_of(estimator)
    unknown = [k for k in params if k not in valid]
    if unknown:
        key = unknown[0]
        raise ConfigError(f"`{where}.params.{key}` is not a parameter of {cls.__name__}.{did_you_mean(key, valid)}",
                          hint=f"Valid parameters: {', '.join(sorted(valid))}.")
    settings = {k: v for k, v in defaults.items() if k in valid or _takes_any(cls)}
    if "random_state" in valid:
        settings["random_state"] = seed
    if n_jobs is not None and name in PARALLEL and threads_param(name) in valid:
        settings[threads_param(name)] = n_jobs
    settings.update(params)
    estimator.set_params(**settings)
    check_params(estimator, f"`{where}.params`")
    return estimator


def check_params(estimator: Any, where: str) -> None:
    """scikit-learn's own constraint check, run now rather than at the first fit (which may be
    deep inside cross-validation). Estimators without declared constraints (XGBoost) pass."""
    if not hasattr(estimator, "_parameter_constraints"):
        return
    from sklearn.utils._param_validation import InvalidParameterError

    try:
        estimator._validate_params()
    except InvalidParameterError as exc:
        raise ConfigError(f"{where}: {exc}", hint=f"Fix the value in {where.strip('`')}.") from None


def needs_dense(estimator: Any) -> bool:
    """Estimators that reject scipy sparse input (their tags say so)."""
    try:
        return not estimator.__sklearn_tags__().input_tags.sparse
    except AttributeError:
        return False


def is_xgboost(estimator: Any) -> bool:
    return type(estimator).__module__.startswith("xgboost")


def encodes_labels(estimator: Any) -> bool:
    """Classifiers saved inside LabelEncodedClassifier: XGBoost wants labels 0..k-1, and CatBoost
    predicts a column of labels rather than a vector."""
    return is_xgboost(estimator) or type(estimator).__module__.startswith("catboost")


def xgboost_device(requested: str) -> str:
    """The device XGBoost uses when asked for `requested` ("cuda" -> "cuda:0", or "cpu" when it
    finds no GPU), from one boosting round on two rows; its own warnings are kept quiet."""
    import warnings

    import numpy as np
    import xgboost

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            booster = xgboost.train({"device": requested, "tree_method": "hist"},
                                    xgboost.DMatrix(np.zeros((2, 1)), label=[0.0, 1.0]), num_boost_round=1)
    except xgboost.core.XGBoostError as exc:  # "[12:00:00] src/context.cc:111: Invalid argument for `device`. ..."
        said = re.sub(r"^\[[^\]]*\]\s*\S+:\d+:\s*", "", str(exc).strip()).split(". ")[0].rstrip(".")
        raise ConfigError(f"`train.params.device` is '{requested}', which XGBoost refuses ({said}).",
                          hint="Use cpu, cuda, or cuda:<ordinal> for one GPU of several.") from None
    return str(json.loads(booster.save_config())["learner"]["generic_param"].get("device", "cpu"))


def move_to_cpu(estimator: Any) -> str | None:
    """For a fitted XGBoost model asked to train on another device (`device: cuda`): switch it to
    predict on the CPU and return the device XGBoost actually trained on ("cuda:0", or "cpu" when
    it found no GPU). Every stage after train scores numpy and pandas data, which lives in host
    memory: a booster left on the GPU copies each batch there through a DMatrix (XGBoost warns of
    mismatched devices), slow for the small requests a server answers, and a server may have no
    GPU at all. A clone of the saved model would train on the CPU: nothing refits one. None for
    every other model."""
    if not is_xgboost(estimator) or str(estimator.get_params().get("device") or "cpu") == "cpu":
        return None
    used = json.loads(estimator.get_booster().save_config())["learner"]["generic_param"].get("device", "cpu")
    estimator.set_params(device="cpu")
    return str(used)


# --------------------------------------------------------------------------- search spaces


def search_space(space: dict[str, Any], method: str, estimator: Any, prefix: str = "model__") -> dict[str, Any]:
    """YAML search space -> scikit-learn's param grid / distributions (prefixed for a Pipeline)."""
    from scipy import stats
    from sklearn.base import clone

    valid = estimator.get_params(deep=False)
    out: dict[str, Any] = {}
    for key, spec in space.items():
        where = f"`train.search.space.{key}`"
        if key not in valid:
            raise ConfigError(f"{where} is not a parameter of {type(estimator).__name__}.{did_you_mean(key, valid)}",
                              hint=f"Valid parameters: {', '.join(sorted(valid))}.")
        if isinstance(spec, list):
            if not spec:
                raise ConfigError(f"{where} must list at least one value. Got [].", hint="For example: [100, 300].")
            for value in spec:
                check_params(clone(estimator).set_params(**{key: value}), where)
            out[prefix + key] = spec
            continue
        if not (isinstance(spec, dict) and len(spec) == 1):
            raise ConfigError(f"{where} must be a list of values or one of {{uniform: [lo, hi]}}, "
                              f"{{loguniform: [lo, hi]}}, {{int: [lo, hi]}}. Got {spec!r}.",
                              hint="For example: learning_rate: {loguniform: [0.01, 0.3]}")
        (kind, bounds), = spec.items()
        if kind not in ("uniform", "loguniform", "int"):
            raise ConfigError(f"{where} uses '{kind}', which is not a distribution.{did_you_mean(kind, ['uniform', 'loguniform', 'int'])}",
                              hint="Use uniform, loguniform or int.")
        if not (isinstance(bounds, list) and len(bounds) == 2 and all(isinstance(b, (int, float)) for b in bounds)
                and bounds[0] < bounds[1]):
            raise ConfigError(f"{where} must give [low, high] with low < high. Got {bounds!r}.",
                              hint="For example: {uniform: [0.5, 1.0]}")
        lo, hi = bounds
        if kind == "loguniform" and lo <= 0:
            raise ConfigError(f"{where}: loguniform needs low > 0. Got {lo}.", hint="For example: [0.001, 1.0]")
        if method == "grid":
            if kind != "int" or hi - lo > 1000:
                raise ConfigError(f"{where}: grid search needs a list of values, not a {kind} distribution.",
                                  hint="Use method: random (or halving), or list the values.")
            out[prefix + key] = list(range(int(lo), int(hi) + 1))
            continue
        out[prefix + key] = {"uniform": lambda: stats.uniform(lo, hi - lo),
                             "loguniform": lambda: stats.loguniform(lo, hi),
                             "int": lambda: stats.randint(int(lo), int(hi) + 1)}[kind]()
    return out
