"""Scoring an XGBoost model on numeric inputs without importing scikit-learn.

Most of a `mlw predict` run on 100,000 rows goes to imports: scikit-learn (which imports
scipy.stats), pandas and XGBoost's Python package (which imports scikit-learn itself) take
1.0-1.3 s on a 2-core machine, against ~0.3 s of work. For the common case of an XGBoost model
whose inputs are all numbers and whose preprocessing is imputation and standard scaling,
`mlw train` therefore also writes a scoring bundle into the train version:

- `booster.ubj`: the booster in XGBoost's own binary format;
- `scoring.json`: the preprocessing as numbers (fill values, means, scales), the classes,
  the objective and the iteration range XGBoost's scikit-learn wrapper would use.

`mlw predict` then scores with numpy and pyarrow only, through the C API of the installed
XGBoost library (libxgboost, which XGBoost's Python package itself wraps with ctypes, checked
to be the version the package reports), with the same calls and settings the wrapper makes.

The bundle is written only when it reproduces the pipeline exactly: at train time the lean
scorer and the fitted pipeline score the training rows and must agree bit for bit (features,
labels and probabilities), so predictions never depend on which path ran. At predict time a
chunk the schema's checks would question (missing values where training had none, infinity,
a column that is not numbers, pandas metadata that would rename columns or make one the
index) goes through the full path, which names each problem.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from mlflow_cli.data.validation.fast import matrix_certainly_valid, numeric_schema
from mlflow_cli.models.scoring.compiled import DIVIDE, SUBTRACT, numeric_block, numeric_operations

BOOSTER_FILE = "booster.ubj"
SPEC_FILE = "scoring.json"
FORMAT = 1
CHECK_ROWS = 20_000  # training rows scored both ways before the bundle is written
CLASSIFIER_OBJECTIVES = ("binary:logistic", "multi:softprob")  # predict_proba is the booster's output


class LeanModel:
    """A booster and its preprocessing, scored without scikit-learn (see the module docstring)."""

    def __init__(self, spec: dict[str, Any], booster: bytes) -> None:
        self.spec = spec
        self.columns: list[str] = spec["columns"]
        classes = spec.get("classes")  # with the dtype of the Pipeline's classes_, so the output column's type matches
        self.classes = None if classes is None else np.asarray(classes, dtype=spec.get("classes_dtype"))
        self._booster = _Booster(booster)
        self._branches = [(branch["index"], _floats(branch.get("fill")),
                           [(name, _floats(branch[key])) for key, name in (("mean", SUBTRACT), ("scale", DIVIDE))
                            if branch.get(key) is not None])
                          for branch in spec["branches"]]

    @classmethod
    def load(cls, folder: Path, schema: dict[str, Any]) -> LeanModel | None:
        """The bundle in a train version's folder, or None when there is none (models trained
        before bundles existed, other estimators) or it does not fit this schema."""
        spec_path, booster_path = folder / SPEC_FILE, folder / BOOSTER_FILE
        if not spec_path.is_file() or not booster_path.is_file():
            return None
        spec = json.loads(spec_path.read_text(encoding="utf-8"))
        if spec.get("format") != FORMAT or list(schema["columns"]) != spec["columns"]:
            return None
        if not numeric_schema(schema):
            return None
        return cls(spec, booster_path.read_bytes())

    def transform(self, matrix: np.ndarray) -> np.ndarray:
        """The model's features from the input columns (in `columns` order): SimpleImputer's fill,
        then StandardScaler's `X -= mean; X /= scale`, with compiled.py's arithmetic."""
        blocks = [numeric_block(matrix[:, index], fill, operations)  # fancy indexing: a new array, changed in place
                  for index, fill, operations in self._branches]
        return blocks[0] if len(blocks) == 1 else np.hstack(blocks)

    def predict(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(labels or values, class probabilities or None), as `scoring.predict_scores` gives them."""
        raw = self._booster.predict(features, self.spec["iteration_end"], self.spec["missing"])
        if self.classes is None:
            return raw, None
        if raw.ndim == 1:  # binary:logistic, expanded as XGBClassifier.predict_proba does
            raw = np.vstack((1.0 - raw, raw)).transpose()
        proba = np.asarray(raw, dtype=float)
        return self.classes[proba.argmax(axis=1)], proba

    def score_table(self, table: Any, schema: dict[str, Any]) -> tuple[np.ndarray, np.ndarray | None] | None:
        """Scores for an Arrow table of raw records, or None when a column is not numbers or a
        value is one the schema's checks would question (the caller takes the full path)."""
        import pyarrow as pa

        if len(set(table.column_names)) != table.num_columns or _pandas_reshapes(table):
            return None  # a name twice, or an index or renamed columns for pandas: the full path says so
        matrix = np.empty((table.num_rows, len(self.columns)), dtype=float)
        for j, name in enumerate(self.columns):
            if name not in table.column_names:
                return None
            column = table.column(name)
            if not (pa.types.is_floating(column.type) or pa.types.is_integer(column.type)):
                return None
            matrix[:, j] = float_column(column)
        if not matrix_certainly_valid(self.columns, matrix, schema):
            return None
        return self.predict(self.transform(matrix))


def _floats(values: list[float] | None) -> np.ndarray | None:
    return None if values is None else np.asarray(values, dtype=float)


def _pandas_reshapes(table: Any) -> bool:
    """Whether the table's pandas metadata makes `to_pandas` (the full path) turn a column into
    the index or rename columns (non-string names): the frame the checks see would differ."""
    raw = (table.schema.metadata or {}).get(b"pandas")
    if not raw:
        return False
    try:
        meta = json.loads(raw)
    except ValueError:
        return True
    if any(isinstance(index, str) for index in meta.get("index_columns") or []):
        return True
    return any(column.get("name") != column.get("field_name") for column in meta.get("columns") or []
               if column.get("field_name") in table.column_names)


def float_column(column: Any) -> np.ndarray:
    """A numeric Arrow column as float64, missing values as NaN, read from its buffers: pyarrow's
    `to_numpy` and `fill_null` import pandas (0.2-0.3 s of a 1 s `mlw predict`)."""
    import pyarrow as pa

    parts = []
    for chunk in column.cast(pa.float64(), safe=False).chunks:  # integers past 2**53 round, as numpy's do
        if len(chunk) == 0:
            continue
        end = chunk.offset + len(chunk)
        validity, data = chunk.buffers()[:2]
        values = np.frombuffer(data, dtype=np.float64, count=end)[chunk.offset:]
        if chunk.null_count:  # Arrow's validity bitmap: one bit per value, least significant first
            valid = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), count=end, bitorder="little")
            values = np.where(valid[chunk.offset:].astype(bool), values, np.nan)
        parts.append(values)
    return parts[0] if len(parts) == 1 else np.concatenate(parts) if parts else np.empty(0)


def arrow_array(values: np.ndarray) -> Any:
    """A numpy array of numbers, booleans or strings as an Arrow array, built from its buffers:
    `pa.array` imports pandas on first use (0.2-0.3 s of a 1 s `mlw predict`). Anything else
    (objects that are not all strings) goes through `pa.array`."""
    import pyarrow as pa

    values = np.asarray(values)
    n = len(values)
    if values.dtype.kind in "iuf":
        data = np.ascontiguousarray(values)
        return pa.Array.from_buffers(pa.from_numpy_dtype(data.dtype), n, [None, pa.py_buffer(data)])
    if values.dtype.kind == "b":
        return pa.Array.from_buffers(pa.bool_(), n, [None, pa.py_buffer(np.packbits(values, bitorder="little"))])
    if values.dtype.kind in "UO" and all(type(v) is str for v in values.tolist()):
        encoded = [v.encode("utf-8") for v in values.tolist()]
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
        return pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(offsets),
                                                            pa.py_buffer(b"".join(encoded))]).cast(pa.string())
    return pa.array(values)


# --------------------------------------------------------------------------- writing (train time)


def export_bundle(pipeline: Any, schema: dict[str, Any], rows: Any, task: str) -> dict[str, bytes] | None:
    """The bundle's files for a fitted pipeline, or None when it is not a case the lean path
    covers or does not reproduce the pipeline exactly on `rows` (a frame of raw records)."""
    try:
        found = _describe(pipeline, schema, task)
        if found is None:
            return None
        spec, booster = found
        lean = LeanModel(spec, booster)
        sample = rows.head(CHECK_ROWS)[spec["columns"]]  # head first: no copy of every training row
        if len(sample) == 0 or not _agrees(lean, pipeline, sample, task):
            return None
        return {SPEC_FILE: json.dumps(spec, indent=2).encode(), BOOSTER_FILE: booster}
    except Exception:  # the bundle is an optimisation: any surprise means predict uses the pipeline
        return None


def _describe(pipeline: Any, schema: dict[str, Any], task: str) -> tuple[dict[str, Any], bytes] | None:
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import StandardScaler

    from mlflow_cli.models.catalog import is_xgboost
    from mlflow_cli.models.scoring.pipeline import final_estimator, fitted_branches
    from mlflow_cli.models.tasks import task_named

    columns = list(schema["columns"])
    steps = getattr(pipeline, "steps", None) or []
    if len(steps) != 2 or not numeric_schema(schema) or len(getattr(steps[0][1], "steps", [])) != 2:
        return None
    found = fitted_branches(steps[0][1])
    if found is None or getattr(found[1], "sparse_output_", False):
        return None
    branches = []
    for step_columns, parts in found[2]:
        if not set(step_columns) <= set(columns):
            return None
        # Format 1 holds an optional imputer's fill and one StandardScaler's mean and scale.
        found_operations = numeric_operations(parts, len(step_columns))
        scalers = sum(isinstance(part, StandardScaler) for part in parts)
        if found_operations is None or scalers > 1 or \
                not all(isinstance(part, (SimpleImputer, StandardScaler)) for part in parts):
            return None
        fill, operations = found_operations
        branch: dict[str, Any] = {"index": [columns.index(c) for c in step_columns]}
        if fill is not None:
            branch["fill"] = fill.tolist()
        if scalers:
            values = {name: array.tolist() for name, array in operations}
            branch["mean"], branch["scale"] = values.get(SUBTRACT), values.get(DIVIDE)
        branches.append(branch)
    estimator = final_estimator(pipeline)
    inner = getattr(estimator, "estimator", estimator)
    if not is_xgboost(inner) or getattr(inner, "booster", None) not in (None, "gbtree"):
        return None
    if str(getattr(inner, "device", None) or "cpu") != "cpu":
        return None
    booster = inner.get_booster()
    objective = json.loads(booster.save_config())["learner"]["objective"]["name"]
    spec: dict[str, Any] = {"format": FORMAT, "columns": columns, "branches": branches, "objective": objective,
                            "classes": None, "missing": None if math.isnan(inner.missing) else float(inner.missing)}
    prediction = task_named(task).prediction
    if prediction == "label":
        if objective not in CLASSIFIER_OBJECTIVES or not hasattr(estimator, "classes_"):
            return None
        classes = np.asarray(estimator.classes_)
        spec["classes"] = classes.tolist()
        spec["classes_dtype"] = classes.dtype.str if classes.dtype.kind in "biuf" else None
    elif prediction != "value" or objective.startswith(("binary:", "multi:", "rank:")):
        return None
    try:
        spec["iteration_end"] = inner.best_iteration + 1  # what XGBModel._get_iteration_range picks
    except AttributeError:
        spec["iteration_end"] = 0
    return spec, bytes(booster.save_raw("ubj"))


def _agrees(lean: LeanModel, pipeline: Any, sample: Any, task: str) -> bool:
    """Bit for bit: the features, then the labels and probabilities `mlw predict` would write."""
    from mlflow_cli.models.scoring.pipeline import predict_scores
    from mlflow_cli.models.tasks import task_named

    features = np.asarray(pipeline.steps[0][1].transform(sample), dtype=float)
    matrix = sample.to_numpy(dtype=float, na_value=np.nan)
    ours = lean.transform(matrix.copy())
    if ours.shape != features.shape or not np.array_equal(ours, features, equal_nan=True):
        return False
    labels, proba = predict_scores(pipeline, sample, want_proba=task_named(task).labels)
    lean_labels, lean_proba = lean.predict(ours)
    if (proba is None) != (lean_proba is None) or (proba is not None and not np.array_equal(proba, lean_proba)):
        return False
    labels, lean_labels = np.asarray(labels), np.asarray(lean_labels)
    if labels.dtype.kind in "biuf" and labels.dtype != lean_labels.dtype:  # the output column's type
        return False
    return np.array_equal(labels, lean_labels)


# --------------------------------------------------------------------------- libxgboost


class _Booster:
    """A booster loaded into libxgboost through its C API, as XGBoost's Python package does."""

    def __init__(self, raw: bytes) -> None:
        self._lib = _library()
        self._handle = ctypes.c_void_p()
        _check(self._lib, self._lib.XGBoosterCreate(None, ctypes.c_uint64(0), ctypes.byref(self._handle)))
        _check(self._lib, self._lib.XGBoosterLoadModelFromBuffer(self._handle, ctypes.c_char_p(raw),
                                                                  ctypes.c_uint64(len(raw))))
        _check(self._lib, self._lib.XGBoosterSetParam(self._handle, b"nthread", b"0"))  # every core

    def predict(self, features: np.ndarray, iteration_end: int, missing: float | None) -> np.ndarray:
        """`Booster.inplace_predict(features, predict_type="value")` on a dense float matrix."""
        data = np.ascontiguousarray(features, dtype=float)
        interface = json.dumps({"data": (data.ctypes.data, True), "shape": list(data.shape), "strides": None,
                                "typestr": "<f8", "version": 3}).encode()
        config = json.dumps({"type": 0, "training": False, "iteration_begin": 0, "iteration_end": iteration_end,
                             "strict_shape": False, "missing": float("nan") if missing is None else missing,
                             "cache_id": 0}).encode()
        shape = ctypes.POINTER(ctypes.c_uint64)()
        dims = ctypes.c_uint64()
        result = ctypes.POINTER(ctypes.c_float)()
        _check(self._lib, self._lib.XGBoosterPredictFromDense(self._handle, interface, config, None,
                                                               ctypes.byref(shape), ctypes.byref(dims),
                                                               ctypes.byref(result)))
        size = [shape[i] for i in range(dims.value)]
        return np.ctypeslib.as_array(result, (int(np.prod(size)),)).reshape(size).copy()

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle is not None and handle.value:
            self._lib.XGBoosterFree(handle)


_LIB: Any = None


def _library() -> Any:
    """libxgboost from the installed xgboost package, loaded without importing the package, and
    only when its version is the package's (OSError otherwise: predict then takes the full path)."""
    global _LIB
    if _LIB is None:
        from importlib.metadata import version

        spec = importlib.util.find_spec("xgboost")
        if spec is None or not spec.submodule_search_locations:
            raise OSError("XGBoost is not installed.")
        name = {"win32": "xgboost.dll", "darwin": "libxgboost.dylib"}.get(sys.platform, "libxgboost.so")
        candidates = [Path(folder) / "lib" / name for folder in spec.submodule_search_locations]
        candidates += [Path(prefix) / "lib" / name for prefix in (sys.prefix, sys.base_prefix)]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise OSError(f"{name} was not found next to the xgboost package.")
        lib = ctypes.cdll.LoadLibrary(str(found))
        lib.XGBGetLastError.restype = ctypes.c_char_p
        parts = [ctypes.c_int(), ctypes.c_int(), ctypes.c_int()]
        lib.XGBoostVersion(*(ctypes.byref(p) for p in parts))
        loaded = ".".join(str(p.value) for p in parts)
        if not version("xgboost").startswith(loaded):
            raise OSError(f"{found} is XGBoost {loaded}, but the installed package is {version('xgboost')}.")
        _LIB = lib
    return _LIB


def _check(lib: Any, code: int) -> None:
    if code != 0:
        raise RuntimeError(f"libxgboost: {lib.XGBGetLastError().decode(errors='replace')}")
