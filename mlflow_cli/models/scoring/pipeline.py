"""The fitted scikit-learn Pipeline that `mlw train` saves (preprocessing + estimator): taking
it apart, and scoring with it so that the preprocessing runs once for labels and probabilities.

The reference every faster path (compiled.py, bundle.py) must match bit for bit; model.py
chooses among them. Imports numpy, pandas and models/features.py (the transformers pickled in
every model, hence scikit-learn).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlflow_cli.models.features import TypeCoercer

if TYPE_CHECKING:
    from mlflow_cli.models.scoring.compiled import CompiledPreprocessor

SMALL_FRAME = 256  # rows; larger frames take scikit-learn's path unless the compiled form is all numbers


def fitted_branches(preprocessor: Any) -> tuple[TypeCoercer, Any, list[tuple[list[str], list[Any]]]] | None:
    """prepare's fitted preprocessing (`TypeCoercer -> ColumnTransformer`) taken apart: the coercer,
    the transformer, and for each branch in use its columns and fitted steps in order. None when
    it has another shape, or a branch takes one text column (TF-IDF reads it as 1-D)."""
    steps = dict(getattr(preprocessor, "steps", None) or [])
    coercer, transformer = steps.get("coerce"), steps.get("features")
    if not isinstance(coercer, TypeCoercer) or transformer is None or not hasattr(transformer, "transformers_"):
        return None
    branches = []
    for name, step, columns in transformer.transformers_:
        if name == "remainder" or step == "drop":
            continue
        if isinstance(columns, str):
            return None
        parts = [] if step == "passthrough" else [s for _, s in step.steps] if hasattr(step, "steps") else [step]
        branches.append((list(columns), parts))
    return coercer, transformer, branches


def final_estimator(model: Any) -> Any:
    """The last step of a Pipeline (the estimator), or the model itself when it is not one."""
    steps = getattr(model, "steps", None)
    return steps[-1][1] if steps else model


def single_threaded(model: Any) -> Any:
    """Set n_jobs=1 on the final estimator (and one it wraps) for scoring. Thread pools cost
    far more than they save on small requests (XGBoost: 0.5 ms for one row with one thread,
    30 ms with a pool on a busy 2-core machine), and a server is already parallel across
    requests. An ensemble's members too."""
    from mlflow_cli.models.catalog import set_threads

    set_threads(final_estimator(model), 1)
    return model


def predict_scores(model: Any, frame: pd.DataFrame, *, want_proba: bool,
                   compiled: CompiledPreprocessor | None = None,
                   estimator: Any = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Labels (or values) and, when asked and available, class probabilities, transforming once.
    `estimator` stands in for the pipeline's final step (a parallel twin for large frames)."""
    steps = getattr(model, "steps", None) or []
    features: Any = frame
    if len(steps) > 1:
        if compiled is not None and (len(frame) <= SMALL_FRAME or compiled.vectorized):
            features = compiled.transform(frame)
        else:
            features = steps[0][1].transform(frame)
    return predict_preprocessed(model, features, want_proba=want_proba, estimator=estimator)


def predict_preprocessed(model: Any, features: Any, *, want_proba: bool,
                         estimator: Any = None) -> tuple[np.ndarray, np.ndarray | None]:
    """The rest of the pipeline after its first (preprocessing) step, on that step's output."""
    steps = getattr(model, "steps", None) or []
    for _, step in steps[1:-1]:
        features = step.transform(features)
    if estimator is None:
        estimator = final_estimator(model)
    proba = np.asarray(estimator.predict_proba(features), dtype=float) \
        if want_proba and hasattr(estimator, "predict_proba") else None
    if proba is not None and _predicts_argmax(estimator):
        labels = np.asarray(estimator.classes_)[proba.argmax(axis=1)]
    else:
        labels = np.asarray(estimator.predict(features))
    return (labels.ravel() if labels.ndim > 1 and labels.shape[1] == 1 else labels), proba


def parallel_twin(estimator: Any) -> Any:
    """A copy of an XGBoost final estimator that predicts on every core, for large requests
    (10,000 rows: 10.4 ms on one thread, 6.5 ms on two here), or None for other estimators.
    The served estimator stays single-threaded for the many small requests."""
    import copy

    inner = getattr(estimator, "estimator", estimator)
    if not type(inner).__module__.startswith("xgboost"):
        return None
    twin = copy.deepcopy(estimator)
    getattr(twin, "estimator", twin).set_params(n_jobs=-1)  # every core (None would keep the booster's 1)
    return twin


def _predicts_argmax(estimator: Any) -> bool:
    """XGBoost's predict is, by definition, the class of highest probability, so labels come
    from the probabilities instead of running every tree twice. Other estimators are asked
    (SVC's labels can disagree with its calibrated probabilities)."""
    inner = getattr(estimator, "estimator", None)
    return type(estimator).__name__ == "LabelEncodedClassifier" and type(inner).__name__ == "XGBClassifier"
