"""The work behind `mlw train`: choose (auto, search) and fit an estimator on the prepared
training split, bundle it with the fitted preprocessing into one scikit-learn Pipeline that
takes raw records, and describe it (cross-validation here; importances and params as JSON in
description.py).

Heavy (pandas, scikit-learn, maybe XGBoost): the stage module imports it only to run.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from mlflow_cli.models.adapters import Densify, LabelEncodedClassifier
from mlflow_cli.core.config import TrainConfig
from mlflow_cli.core.errors import ConfigError, DataError, MlwError
from mlflow_cli.models.catalog import build_estimator, class_path, encodes_labels, is_xgboost, \
    needs_dense, move_to_cpu, search_space, set_threads, xgboost_device
from mlflow_cli.models.tasks import task_named
from mlflow_cli.stages.train.description import feature_names, importances_of, jsonable_params
from mlflow_cli.models.metrics import check_metric_names, default_metric, make_scorer_for, plain, scorer_sign
from mlflow_cli.models.tasks.classification import minority_class

DENSE_CELL_LIMIT = 50_000_000


@dataclass
class TrainOutcome:
    model: Pipeline
    model_name: str
    estimator: str
    params: dict[str, Any]
    metric: str
    classes: list[Any] | None = None
    feature_names: list[str] = field(default_factory=list)
    cv: dict[str, dict[str, float]] | None = None
    leaderboard: list[dict[str, Any]] | None = None
    search: dict[str, Any] | None = None
    importances: dict[str, float] | None = None
    importance_kind: str | None = None
    column_importances: dict[str, float] | None = None  # input column -> share of the importance (sums to 1)
    best_iteration: int | None = None
    fit_seconds: float = 0.0
    device: str | None = None  # where XGBoost trained, when train.params.device asked for one
    positive_class: Any = None  # binary classification: the class precision, recall and f1 are of
    positive_source: str | None = None  # "config" (data.positive_class) or "minority"
    warnings: list[str] = field(default_factory=list)


class Trainer:
    """One training run: the config, the data, and the fitted preprocessing from prepare."""

    def __init__(self, cfg: TrainConfig, task: str, preprocessor: Any, train: pd.DataFrame,
                 valid: pd.DataFrame | None, target: str | None, progress: Any = None,
                 positive: Any = None, engine: Any = None, split_paths: dict[str, Any] | None = None) -> None:
        """`engine`: the config's engine section, where folds, searches and XGBoost run (None: this
        process); a cluster is started only when work goes to it. `split_paths`: the prepared
        splits' files (train, valid), which a Dask engine's workers read."""
        self.cfg, self.task, self.preprocessor = cfg, task, preprocessor
        self.engine_settings = engine
        self.distributed = engine is not None and engine.type == "dask"
        self.split_paths = split_paths or {}
        self.kind = task_named(task)  # what the task means for training (models/tasks/)
        self.train, self.valid = train, valid
        self.target = target if self.kind.supervised else None
        self.y = train[target] if self.target else None
        self.progress = progress
        self.n_jobs = cfg.n_jobs
        n_classes = int(self.y.nunique()) if self.kind.labels else None
        self.metric = cfg.metric or default_metric(task, n_classes)
        check_metric_names(task, [self.metric], "`train.metric`")
        self.positive, self.positive_source = self._positive(positive, n_classes)
        self.warnings: list[str] = []
        self.device: str | None = None  # where XGBoost trains, when train.params.device names one

    def _positive(self, given: Any, n_classes: int | None) -> tuple[Any, str | None]:
        """data.positive_class, matched to the target's labels (1 in YAML names the label 1 or '1'),
        else the minority class of the training rows; None unless the problem is binary."""
        if n_classes != 2:
            return None, None
        labels = [plain(c) for c in sorted(self.y.dropna().unique())]
        if given is None:
            return minority_class(self.y), "minority"
        found = next((c for c in labels if c == given and type(c) is type(given)), None)
        if found is None and isinstance(given, bool):  # YAML reads an unquoted yes/no/true/false as a boolean
            from mlflow_cli.data.tokens import BOOLEAN_TOKENS

            spelt = [c for c in labels if BOOLEAN_TOKENS.get(str(c).strip().lower()) == float(given)]
            found = spelt[0] if len(spelt) == 1 else None
        if found is None:
            found = next((c for c in labels if str(c) == str(given)), None)
        if found is None:
            said = f"{given} (YAML reads an unquoted yes, no, true or false as a boolean)" \
                if isinstance(given, bool) else repr(given)
            raise ConfigError(f"`data.positive_class` is {said}, which is not a class of the target "
                              f"'{self.target}' (its classes: {', '.join(map(str, labels))}).",
                              hint="Name one of the target's classes (quoted, e.g. \"yes\"), or remove "
                                   "data.positive_class to use the minority class.")
        return found, "config"

    def progress_bar(self, label: str, total: float | None = None) -> Any:
        return self.progress(label, total) if self.progress else nullcontext(None)

    # ----------------------------------------------------------------- public

    def run(self) -> TrainOutcome:
        """Fit, reporting library warnings (convergence, ...) as one line each instead of raw output."""
        import warnings

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            outcome = self._run()
        seen = []
        for warning in caught:
            if _device_noise(warning, outcome.device):
                continue
            text = f"{warning.category.__name__}: {str(warning.message).strip().splitlines()[0]}"
            if text not in seen:
                seen.append(text)
        outcome.warnings.extend(seen[:5])
        return outcome

    def _run(self) -> TrainOutcome:
        name = self.cfg.model
        leaderboard = search = cv = None
        if name == "auto":
            if self.cfg.params:  # the leaderboard scores defaults; the saved model would silently differ
                raise ConfigError(f"`train.params` must be empty when `train.model` is auto (candidates are compared "
                                  f"with their defaults). Got {self.cfg.params}.",
                                  hint="Name a model in train.model to set its params, or tune the winner with "
                                       "train.search.")
            from mlflow_cli.stages.train.auto import AutoSearch

            choice = AutoSearch(self).run()
            name, estimator, leaderboard, cv, members = (choice.name, choice.estimator, choice.leaderboard,
                                                        choice.cv, choice.members)
        else:
            estimator, members = self._estimator(name, self.cfg.params), {}
        self._choose_device(estimator)
        if self.cfg.search is not None and not members:
            estimator, search = self._search(name, estimator)
        if self.cfg.cv >= 2 and self.kind.supervised and (cv is None or self.cfg.search is not None):
            cv = self._cross_validate(estimator, self.cfg.cv)
        started = time.perf_counter()
        model, best_iteration = self._fit_final(estimator)
        fit_seconds = time.perf_counter() - started
        importances, kind, column_importances = importances_of(model, self.kind, self._importance_rows(), self.target, self.metric,
                                           self.cfg.seed)
        fitted = model.named_steps["model"]
        inner = fitted.estimator if isinstance(fitted, LabelEncodedClassifier) else fitted
        params = {"voting": "soft", "members": members} if members else jsonable_params(inner)  # before move_to_cpu
        device = move_to_cpu(inner) or self.device
        path = f"{type(fitted).__module__.rsplit('._', 1)[0]}.{type(fitted).__name__}" if members \
            else class_path(name, self.task)
        return TrainOutcome(
            model=model, model_name=name, estimator=path, positive_class=self.positive,
            positive_source=self.positive_source,
            params=params, metric=self.metric, device=device,
            classes=[plain(c) for c in getattr(fitted, "classes_", [])] or None,
            feature_names=feature_names(model), cv=cv, leaderboard=leaderboard, search=search,
            importances=importances, importance_kind=kind, column_importances=column_importances,
            best_iteration=best_iteration,
            fit_seconds=round(fit_seconds, 3), warnings=self.warnings)

    # ----------------------------------------------------------------- choosing

    def _estimator(self, name: str, params: dict[str, Any]) -> Any:
        """The configured estimator, balanced here (not only in the final fit) so that
        cross-validation, auto and search score the model that is saved."""
        estimator = build_estimator(name, self.task, params, self.cfg.seed, self.n_jobs)
        if self._balanced() and "class_weight" in estimator.get_params(deep=False):
            estimator.set_params(class_weight="balanced")
        self._sample_weights(estimator)  # fails now, before any fitting, when it cannot be balanced
        return estimator

    def _choose_device(self, estimator: Any) -> None:
        """`device: cuda` (XGBoost): ask XGBoost once which device it will use. Without a usable
        GPU, every fit uses the CPU from the start, with one plain warning (rather than XGBoost's
        own for each fold, from each worker process). With one, cross-validation and search run
        their folds one after another: parallel folds would share the GPU from several processes."""
        requested = str(estimator.get_params().get("device") or "cpu") if is_xgboost(estimator) else "cpu"
        if requested == "cpu":
            return
        self.device = xgboost_device(requested)
        if self.device == "cpu":
            estimator.set_params(device="cpu")
            self.warnings.append(f"`train.params.device` is '{requested}', but XGBoost found no usable GPU and "
                                 f"trained on the CPU.")
        else:
            self.n_jobs = 1

    def _balanced(self) -> bool:
        return self.cfg.class_weight == "balanced" and self.kind.labels

    def _sample_weights(self, estimator: Any, prefix: str = "") -> dict[str, Any]:
        """Fit params that balance the classes of an estimator without a class_weight parameter."""
        if not self._balanced() or "class_weight" in estimator.get_params(deep=False):
            return {}
        from sklearn.utils.class_weight import compute_sample_weight
        from sklearn.utils.validation import has_fit_parameter

        if not has_fit_parameter(estimator, "sample_weight"):
            raise ConfigError(f"`train.class_weight` is 'balanced', but {type(estimator).__name__} takes neither "
                              f"class_weight nor sample weights.",
                              hint="Remove train.class_weight, or use a model that supports it "
                                   "(logistic_regression, random_forest, hist_gradient_boosting, xgboost).")
        return {prefix + "sample_weight": compute_sample_weight("balanced", self.y)}

    def _search(self, name: str, estimator: Any) -> tuple[Any, dict[str, Any]]:
        from sklearn.experimental import enable_halving_search_cv  # noqa: F401
        from sklearn.model_selection import (GridSearchCV, HalvingGridSearchCV, HalvingRandomSearchCV,
                                             RandomizedSearchCV)

        settings = self.cfg.search
        assert settings is not None
        pipeline = self._pipeline(estimator)
        # XGBoost classifiers sit inside the label encoder: their params are one level further down
        prefix = "model__estimator__" if isinstance(pipeline.named_steps["model"], LabelEncodedClassifier) \
            else "model__"
        space = search_space(settings.space, settings.method, estimator, prefix)
        grid = settings.method == "grid" or all(isinstance(v, list) for v in space.values())
        common = {"scoring": make_scorer_for(self.metric, self.positive), "cv": self._splitter(settings.cv), "n_jobs": self.n_jobs,
                  "refit": False, "error_score": "raise"}
        if settings.method == "grid":
            searcher = GridSearchCV(pipeline, space, **common)
        elif settings.method == "random":
            searcher = RandomizedSearchCV(pipeline, space, n_iter=settings.n_iter, random_state=self.cfg.seed,
                                          **common)
        elif grid:  # exhaust: the last round fits on all the rows, not on the few that 'smallest' leaves
            searcher = HalvingGridSearchCV(pipeline, space, random_state=self.cfg.seed, min_resources="exhaust",
                                           **common)
        else:
            searcher = HalvingRandomSearchCV(pipeline, space, n_candidates=settings.n_iter,
                                             min_resources="exhaust", random_state=self.cfg.seed, **common)
        fits = _candidate_count(space, settings) * settings.cv if settings.method != "halving" else None
        try:
            with self._threads(f"search ({settings.method}): {name}", total=fits) as bar:
                if not self.distributed:  # a scorer sent to a Dask worker cannot reach this bar
                    searcher.scoring = _counting(searcher.scoring, bar)
                searcher.fit(self.train, self.y, **self._sample_weights(estimator, "model__"))
        except ValueError as exc:
            raise ConfigError(f"Hyperparameter search failed: {exc}",
                              hint="Check the values in train.search.space against the estimator's documentation.") \
                from None
        best = {k.removeprefix(prefix): plain(v) for k, v in searcher.best_params_.items()}
        results = searcher.cv_results_
        sign = scorer_sign(self.metric)
        top: list[dict[str, Any]] = []
        for i in np.argsort(results["rank_test_score"], kind="stable"):
            params = {k.removeprefix(prefix): plain(v) for k, v in results["params"][i].items()}
            if any(row["params"] == params for row in top):
                continue  # halving scores a candidate once per round; its best-ranked row is its last round
            top.append({"params": params, "score": float(sign * results["mean_test_score"][i]),
                        "std": float(results["std_test_score"][i])})
            if len(top) == 10:
                break
        candidates = int(searcher.n_candidates_[0]) if hasattr(searcher, "n_candidates_") else len(results["params"])
        estimator.set_params(**best)
        return estimator, {"method": settings.method, "metric": self.metric, "best_params": best,
                           "best_score": float(sign * searcher.best_score_), "candidates": candidates,
                           "top": top}

    # ----------------------------------------------------------------- validation

    def _pipeline(self, estimator: Any) -> Pipeline:
        """Unfitted preprocessing + estimator: CV refits preprocessing inside each fold (no leakage)."""
        steps = [("preprocess", clone(self.preprocessor))]
        if needs_dense(estimator):
            steps.append(("densify", Densify()))
        model = clone(estimator)
        if self.n_jobs != 1:
            set_threads(model, 1)  # folds already run in parallel: nested threads only contend
        if self.kind.labels and encodes_labels(model):
            model = LabelEncodedClassifier(model)
        steps.append(("model", model))
        return Pipeline(steps)

    def _splitter(self, folds: int, repeats: int = 1) -> Any:
        """Shuffled, seeded k-fold splits (stratified for labels), `repeats` times over."""
        from sklearn.model_selection import KFold, RepeatedKFold, RepeatedStratifiedKFold, StratifiedKFold

        seed = self.cfg.seed
        if self.kind.labels:
            smallest = int(self.y.value_counts().min())
            if smallest < folds:
                raise DataError(f"Cross-validation with {folds} folds needs at least {folds} rows of every class; "
                                f"the rarest class has {smallest}.",
                                hint="Lower train.cv (or train.search.cv), or gather more rows of the rare class.")
            if repeats > 1:
                return RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
            return StratifiedKFold(folds, shuffle=True, random_state=seed)
        if repeats > 1:
            return RepeatedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
        return KFold(folds, shuffle=True, random_state=seed)

    def _cross_validate(self, estimator: Any, folds: int, label: str = "cross-validation") -> dict[str, dict[str, float]]:
        from mlflow_cli.stages.train.folds import Folds

        splits = Folds(self, folds)
        with self.progress_bar(label, folds) as bar:
            return splits.cv(splits.run(estimator, bar).predictions)

    @contextmanager
    def _threads(self, label: str, total: int | None = None) -> Iterator[Any]:
        """Threads instead of processes: the data is shared, not copied, and the progress bar
        sees each finished fit. The estimators here release the GIL in their heavy loops."""
        from joblib import parallel_config

        with parallel_config(backend=self.joblib_backend()), self.progress_bar(label, total) as bar:
            yield bar

    def joblib_backend(self) -> str:
        """joblib's backend for folds and searches: threads here, or the Dask engine's cluster
        (joblib's dask backend sends each fit to a worker); the cluster is started now."""
        if not self.distributed:
            return "threading"
        self.engine  # noqa: B018 (started, and its client the default one joblib's backend finds)
        return "dask"

    @functools.cached_property
    def engine(self) -> Any:
        from mlflow_cli.engine import engine_for

        return engine_for(self.engine_settings)

    def _too_big_to_densify(self) -> bool:
        sample = self.preprocessor.transform(self.train.head(100))
        return sample.shape[1] * len(self.train) > DENSE_CELL_LIMIT

    # ----------------------------------------------------------------- final model

    def _fit_final(self, estimator: Any) -> tuple[Pipeline, int | None]:
        if self.distributed and self.kind.supervised and not _has_target_encoder(self.preprocessor):
            if is_xgboost(estimator) and "train" in self.split_paths and self.device is None:
                return self._fit_on_cluster(estimator)
            self.warnings.append(f"{type(estimator).__name__} cannot train on partitioned data: it was fitted in "
                                 f"this process on the {len(self.train):,} training rows (on the Dask engine only "
                                 f"XGBoost trains on the cluster).")
        preprocessor = self.preprocessor
        if _has_target_encoder(preprocessor):
            # TargetEncoder's fit_transform cross-fits; transform(X) on its own training rows would leak.
            preprocessor = clone(preprocessor)
            features = preprocessor.fit_transform(self.train, self.y)
        else:
            features = preprocessor.transform(self.train)
        steps: list[tuple[str, Any]] = [("preprocess", preprocessor)]
        if needs_dense(estimator):
            densify = Densify().fit(features)
            features = densify.transform(features)
            steps.append(("densify", densify))
        fit_params: dict[str, Any] = {}
        model = estimator
        if not self.kind.supervised:
            self._fit(model, features, None, fit_params)
        else:
            fit_params.update(self._sample_weights(model))
            if is_xgboost(model):
                self._early_stopping(model, preprocessor, steps, fit_params)
            if self.kind.labels and encodes_labels(model):
                model = LabelEncodedClassifier(model)
            self._fit(model, features, self.y, fit_params)
        steps.append(("model", model))
        inner = model.estimator if isinstance(model, LabelEncodedClassifier) else model
        best = getattr(inner, "best_iteration", None) if "eval_set" in fit_params else None
        return Pipeline(steps), (int(best) if best is not None else None)

    def _fit_on_cluster(self, estimator: Any) -> tuple[Pipeline, int | None]:
        """XGBoost on the Dask engine's workers (stages/train/distributed.py), saved as the same
        Pipeline a local fit saves."""
        from sklearn.preprocessing import LabelEncoder

        from mlflow_cli.stages.train.distributed import fit_xgboost

        encoder = LabelEncoder().fit(np.asarray(self.y)) if self.kind.labels else None
        classes = encoder.classes_ if encoder is not None else None
        weights = None
        if self._sample_weights(estimator):  # balanced: each class's weight, applied where the rows are
            from sklearn.utils.class_weight import compute_class_weight

            weights = dict(zip(classes, compute_class_weight("balanced", classes=classes, y=np.asarray(self.y))))
        rounds = self.cfg.early_stopping_rounds if self.valid is not None and not self.valid.empty else None
        try:
            fitted = fit_xgboost(self.engine, estimator, self.preprocessor, self.split_paths["train"], self.target,
                                 self.train.head(50), classes, weights, self.split_paths.get("valid"), rounds)
        except ValueError as exc:
            raise fit_error(exc, f"Fitting {type(estimator).__name__} on the cluster") from None
        model: Any = fitted
        if encoder is not None:
            model = LabelEncodedClassifier(fitted)
            model.encoder_, model.classes_ = encoder, classes
        best = getattr(fitted, "best_iteration", None) if rounds else None
        return Pipeline([("preprocess", self.preprocessor), ("model", model)]), (int(best) if best is not None else None)

    def _fit(self, model: Any, features: Any, y: Any, fit_params: dict[str, Any]) -> None:
        inner = model.estimator if isinstance(model, LabelEncodedClassifier) else model
        try:
            model.fit(features, y, **fit_params) if y is not None else model.fit(features)
        except ValueError as exc:
            raise fit_error(exc, f"Fitting {type(inner).__name__}") from None

    def _early_stopping(self, model: Any, preprocessor: Any, steps: list[tuple[str, Any]],
                        fit_params: dict[str, Any]) -> None:
        rounds = self.cfg.early_stopping_rounds
        if not rounds or self.valid is None or self.valid.empty:
            return
        features = preprocessor.transform(self.valid)
        for _, step in steps[1:]:
            features = step.transform(features)
        model.set_params(early_stopping_rounds=rounds)
        fit_params["eval_set"] = [(features, self.valid[self.target])]
        fit_params["verbose"] = False

    def _importance_rows(self) -> pd.DataFrame:
        """Permutation importances are measured on the validation split, else on the training rows."""
        return self.valid if self.valid is not None and not self.valid.empty else self.train


def fit_error(exc: ValueError, what: str) -> MlwError:
    """A fit's ValueError as the user's mistake it reports: a bad param (exit 2) or bad data (exit 3).
    XGBoost checks its params only when fitting, with an XGBoostError (a ValueError)."""
    from sklearn.utils._param_validation import InvalidParameterError

    if isinstance(exc, InvalidParameterError):
        return ConfigError(f"`train.params`: {exc}", hint="Fix the value in train.params.")
    if type(exc).__name__ == "XGBoostError":
        return ConfigError(f"`train.params`: XGBoost rejected them: {str(exc).strip().splitlines()[0]}",
                           hint="Fix the value in train.params (see XGBoost's parameter docs).")
    return DataError(f"{what} failed: {exc}", hint="Check the training data and train.params.")


def _counting(scorer: Any, bar: Any) -> Any:
    """A scorer that also advances the progress bar: one call per finished fit."""
    if bar is None:
        return scorer

    def score(estimator: Any, X: Any, y: Any) -> float:
        value = scorer(estimator, X, y)
        bar.advance(1)
        return value

    return score


def _candidate_count(space: dict[str, Any], settings: Any) -> int:
    if settings.method == "grid":
        from sklearn.model_selection import ParameterGrid

        return len(ParameterGrid(space))
    return settings.n_iter


def _has_target_encoder(preprocessor: Any) -> bool:
    """Walk the fitted pipeline (not its repr, which formats every parameter)."""
    from sklearn.preprocessing import TargetEncoder

    pending = [preprocessor]
    while pending:
        step = pending.pop()
        if isinstance(step, TargetEncoder):
            return True
        pending.extend(s for _, s in getattr(step, "steps", []) or [])
        pending.extend(t for _, t, _ in getattr(step, "transformers_", getattr(step, "transformers", [])) or [])
    return False


def _device_noise(warning: Any, device: str | None) -> bool:
    """XGBoost's warning, with its source paths, that it predicts through a DMatrix when
    cross-validation or a search scores a GPU-trained candidate on host data: nothing a user
    can act on (the saved model predicts on the CPU, see move_to_cpu)."""
    return device is not None and "xgboost" in str(warning.filename) and "mismatched devices" in str(warning.message)
