"""Scoring raw records with a trained model, shared by `mlw serve` and `mlw predict`.

`predict_scores` runs the preprocessing once and asks the final estimator for labels and
probabilities. For small frames (one HTTP request), scikit-learn's per-call overhead
dominates: a ColumnTransformer costs ~10 ms for one row. `compile_preprocessor` therefore
turns a fitted preprocessing pipeline into plain numpy operations when every branch is one
it understands (imputation and scaling of numbers; imputation plus one-hot, ordinal or
target encoding of categories, tabulated with scikit-learn itself at compile time). The
compiled form is checked against scikit-learn on probe rows before it is used; anything
else (text, dates, missing indicators) keeps the scikit-learn path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlflow_cli.models.features import BOOLEAN_TOKENS, TypeCoercer, coerce_column

SMALL_FRAME = 256  # rows; larger frames take scikit-learn's path unless the compiled form is all numbers


@dataclass
class _Branch:
    columns: list[str]
    kind: str  # "numeric" or "table"
    fill: np.ndarray | None = None       # numeric: imputation values (NaN = none)
    shift: np.ndarray | None = None      # numeric: x * scale + shift, applied after the fill
    scale: np.ndarray | None = None
    tables: list[dict[Any, np.ndarray]] | None = None   # table: value -> output block, per column
    unseen: list[np.ndarray] | None = None               # table: block for a value not in the table
    missing: list[np.ndarray | None] | None = None       # table: block for a missing value


class CompiledPreprocessor:
    """A fitted preprocessing pipeline as numpy operations (see the module docstring)."""

    def __init__(self, kinds: dict[str, str], branches: list[_Branch], width: int, sparse: bool) -> None:
        self.kinds, self.branches, self.width, self.sparse = kinds, branches, width, sparse

    @property
    def vectorized(self) -> bool:
        """Numbers only: whole-column numpy work, faster than scikit-learn at any size (category
        tables are looked up value by value, which only pays on small frames)."""
        return all(branch.kind == "numeric" for branch in self.branches)

    def transform(self, frame: pd.DataFrame) -> Any:
        """Raw records in a frame (strings are coerced as TypeCoercer does)."""
        return self._assemble(len(frame), lambda c: _numbers(frame[c], self.kinds[c]),
                              lambda c: coerce_column(frame[c], "categorical"))

    def transform_columns(self, columns: Mapping[str, Sequence[Any]], n: int) -> Any:
        """Column lists of JSON values that already have their kind's type (numbers or booleans,
        strings for categories, None for missing): no pandas on the way, for request-sized input.
        `validation.columns_certainly_valid` says when a request qualifies."""
        return self._assemble(n, lambda c: _json_numbers(columns[c], self.kinds[c]), lambda c: columns[c])

    def _assemble(self, n: int, numbers: Callable[[str], np.ndarray], labels: Callable[[str], Any]) -> Any:
        blocks = []
        for branch in self.branches:
            if branch.kind == "numeric":
                x = np.empty((n, len(branch.columns)), dtype=float)  # one allocation, then in place
                for j, column in enumerate(branch.columns):
                    x[:, j] = numbers(column)
                if branch.fill is not None:
                    np.copyto(x, branch.fill, where=np.isnan(x) & ~np.isnan(branch.fill))
                x *= branch.scale
                x += branch.shift
                blocks.append(x)
                continue
            for j, column in enumerate(branch.columns):
                table, unseen, missing = branch.tables[j], branch.unseen[j], branch.missing[j]
                if missing is None:
                    missing = unseen
                rows = [table.get(value, unseen) if isinstance(value, str) else missing for value in labels(column)]
                blocks.append(np.vstack(rows) if rows else np.zeros((0, len(unseen))))
        out = blocks[0] if len(blocks) == 1 else np.hstack(blocks) if blocks else np.zeros((n, 0))
        if self.sparse:
            from scipy import sparse

            return sparse.csr_matrix(out)
        return out


def _json_numbers(values: Sequence[Any], kind: str) -> np.ndarray:
    """Numbers, booleans, or (boolean columns) words such as yes/no; None for missing; as floats."""
    if kind == "boolean" and any(isinstance(v, str) for v in values):
        values = [BOOLEAN_TOKENS[v.strip().lower()] if isinstance(v, str) else v for v in values]
    return np.asarray(values, dtype=float)


def _numbers(values: pd.Series, kind: str) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=float, na_value=np.nan)
    return coerce_column(values, kind).to_numpy(dtype=float, na_value=np.nan)


def compile_preprocessor(preprocessor: Any, schema: dict[str, Any]) -> CompiledPreprocessor | None:
    """The compiled form of `TypeCoercer -> ColumnTransformer`, or None when a branch is not
    supported or the compiled output differs from scikit-learn's on probe rows."""
    try:
        found = fitted_branches(preprocessor)
        if found is None:
            return None
        coercer, transformer, parts_by_branch = found
        kinds = dict(coercer.kinds or {})
        branches = []
        for columns, parts in parts_by_branch:
            branch = _compile_branch(parts, columns, kinds)
            if branch is None:
                return None
            branches.append(branch)
        compiled = CompiledPreprocessor(kinds, branches, len(transformer.get_feature_names_out()),
                                        bool(getattr(transformer, "sparse_output_", False)))
        return compiled if _agrees(compiled, preprocessor, schema) else None
    except Exception:  # compiling is an optimisation: any surprise means the scikit-learn path
        return None


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


def _compile_branch(parts: list[Any], columns: list[str], kinds: dict[str, str]) -> _Branch | None:
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import (MinMaxScaler, OneHotEncoder, OrdinalEncoder, RobustScaler, StandardScaler,
                                       TargetEncoder)

    if all(kinds.get(c) in ("numeric", "boolean") for c in columns):
        k = len(columns)
        fill, scale, shift = None, np.ones(k), np.zeros(k)
        for position, part in enumerate(parts):
            if isinstance(part, SimpleImputer) and not part.add_indicator and position == 0:
                fill = np.asarray(part.statistics_, dtype=float)
            elif isinstance(part, StandardScaler):
                mean = part.mean_ if part.with_mean else np.zeros(k)
                std = part.scale_ if part.with_std else np.ones(k)
                scale, shift = scale / std, (shift - mean) / std
            elif isinstance(part, RobustScaler):
                center = part.center_ if part.with_centering else np.zeros(k)
                spread = part.scale_ if part.with_scaling else np.ones(k)
                scale, shift = scale / spread, (shift - center) / spread
            elif isinstance(part, MinMaxScaler) and not part.clip:
                scale, shift = scale * part.scale_, shift * part.scale_ + part.min_
            else:
                return None
        return _Branch(columns, "numeric", fill=fill, shift=shift, scale=scale)
    if not all(kinds.get(c) == "categorical" for c in columns) or not parts:
        return None
    encoder = parts[-1]
    imputers = parts[:-1]
    if not isinstance(encoder, (OneHotEncoder, OrdinalEncoder, TargetEncoder)) or len(imputers) > 1:
        return None
    if imputers and (not isinstance(imputers[0], SimpleImputer) or imputers[0].add_indicator):
        return None
    return _tabulate(parts, columns, encoder)


def _tabulate(parts: list[Any], columns: list[str], encoder: Any) -> _Branch | None:
    """For each column, the encoded block of every known category (and of an unseen value and
    a missing one), computed by the fitted scikit-learn steps themselves."""
    categories = [list(c) for c in encoder.categories_]
    widths = _block_widths(encoder, len(columns))
    if widths is None:
        return None
    offsets = np.cumsum([0] + widths)
    tables, unseen_blocks, missing_blocks = [], [], []
    base = [c[0] for c in categories]
    for j in range(len(columns)):
        probes = [str(v) for v in categories[j]] + ["\x00mlw-unseen\x00", np.nan]
        frame = pd.DataFrame({col: [base[i]] * len(probes) for i, col in enumerate(columns)}, dtype=object)
        frame[columns[j]] = pd.Series(probes, dtype=object)
        out = frame
        for part in parts:
            out = part.transform(out)
        out = out.toarray() if hasattr(out, "toarray") else np.asarray(out, dtype=float)
        block = out[:, offsets[j]:offsets[j + 1]]
        tables.append({value: block[i] for i, value in enumerate(probes[:-2])})
        unseen_blocks.append(block[-2])
        missing_blocks.append(block[-1])
    return _Branch(columns, "table", tables=tables, unseen=unseen_blocks, missing=missing_blocks)


def _block_widths(encoder: Any, n: int) -> list[int] | None:
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    if isinstance(encoder, OneHotEncoder):
        widths = getattr(encoder, "_n_features_outs", None)
        return list(widths) if widths is not None and len(widths) == n else None
    if isinstance(encoder, OrdinalEncoder):
        return [1] * n
    classes = getattr(encoder, "classes_", None)  # TargetEncoder: one column per class when multiclass
    per = len(classes) if classes is not None and getattr(encoder, "target_type_", "") == "multiclass" else 1
    return [per] * n


def _agrees(compiled: CompiledPreprocessor, preprocessor: Any, schema: dict[str, Any]) -> bool:
    """Probe rows (typical values, range ends, missing, unseen) give the same features every way:
    scikit-learn on the frame, the compiled form on the frame, and on the column lists."""
    rows = _probe_rows(schema)
    frame = pd.DataFrame(rows)
    columns = {name: [row[name] for row in rows] for name in schema["columns"]}
    theirs = _dense(preprocessor.transform(frame))
    return all(ours.shape == theirs.shape and np.allclose(ours, theirs, rtol=1e-9, atol=1e-12, equal_nan=True)
               for ours in (_dense(compiled.transform(frame)), _dense(compiled.transform_columns(columns, len(rows)))))


def _dense(features: Any) -> np.ndarray:
    return features.toarray() if hasattr(features, "toarray") else np.asarray(features, dtype=float)


def _probe_rows(schema: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [{}, {}, {}, {}]
    for name, spec in schema["columns"].items():
        kind = spec["kind"]
        if kind == "numeric":
            lo, hi = spec.get("min", 0.0), spec.get("max", 1.0)
            values = [lo, hi, (lo + hi) / 2 if None not in (lo, hi) else 0.0, None]
        elif kind == "boolean":
            values = [True, False, True, None]
        elif kind == "categorical":
            cats = spec.get("categories") or ["a"]
            values = [cats[0], cats[-1], "\x00never-seen\x00", None]
        else:
            values = [None] * 4
        for row, value in zip(rows, values):
            row[name] = value
    return rows


def final_estimator(model: Any) -> Any:
    """The last step of a Pipeline (the estimator), or the model itself when it is not one."""
    steps = getattr(model, "steps", None)
    return steps[-1][1] if steps else model


def single_threaded(model: Any) -> Any:
    """Set n_jobs=1 on the final estimator (and one it wraps) for scoring. Thread pools cost
    far more than they save on small requests (XGBoost: 0.5 ms for one row with one thread,
    30 ms with a pool on a busy 2-core machine), and a server is already parallel across
    requests."""
    estimator = final_estimator(model)
    for candidate in (estimator, getattr(estimator, "estimator", None)):
        if candidate is not None and hasattr(candidate, "get_params") and "n_jobs" in candidate.get_params(deep=False):
            candidate.set_params(n_jobs=1)
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
