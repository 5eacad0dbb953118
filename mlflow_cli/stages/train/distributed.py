"""XGBoost trained on a Dask cluster (`engine.type: dask`) with `xgboost.dask`, XGBoost's own
distributed training. The workers read prepare's training split one Parquet row group each,
apply the fitted preprocessing (the same `transform` a local fit runs, so the features are the
same) and hand the partitions to XGBoost's distributed matrix; nothing but the model comes back
to this process. The booster is loaded into a plain XGBoost estimator, put where the local fit
puts its own (inside the label encoder, inside the one Pipeline), so serving, the scoring bundle,
predict and evaluate take it unchanged.

Distributed training is not bit-identical to one process's: each worker sketches its own
histogram bins and XGBoost merges the sketches, so split points (and scores, within a few
thousandths of AUC on the shipped data) differ slightly. Heavy (dask, xgboost): imported by the
trainer only on a Dask engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mlflow_cli.engine.dask import quiet_stdout


def fit_xgboost(engine: Any, estimator: Any, preprocessor: Any, train_path: Path, target: str,
                sample: Any, classes: np.ndarray | None, class_weights: dict[Any, float] | None = None,
                valid_path: Path | None = None, early_stopping_rounds: int | None = None) -> Any:
    """`estimator` (an unfitted XGBClassifier or XGBRegressor) fitted on the cluster from the
    split at `train_path`; the returned estimator is a plain one, already fitted. `sample`: a
    few training rows, for the features' shape; `classes`: the sorted labels (classification),
    which the workers encode as 0..k-1; `class_weights`: label -> weight ('balanced')."""
    import dask
    import xgboost
    import xgboost.dask as dxgb
    from sklearn.base import clone

    probe = preprocessor.transform(sample)
    features = int(probe.shape[1])
    pre = dask.delayed(preprocessor, pure=True)  # one copy in the graph, sent to each worker once
    x, y, w = _arrays(str(Path(train_path).resolve()), pre, target, classes, class_weights, features, probe)
    params = {k: v for k, v in estimator.get_params().items() if v is not None and k not in ("n_jobs", "nthread")}
    distributed_cls = dxgb.DaskXGBClassifier if classes is not None else dxgb.DaskXGBRegressor
    model = distributed_cls(**params)
    model.client = engine.client
    fit: dict[str, Any] = {"sample_weight": w} if w is not None else {}
    if valid_path is not None and early_stopping_rounds:
        vx, vy, _ = _arrays(str(Path(valid_path).resolve()), pre, target, classes, None, features, probe)
        model.set_params(early_stopping_rounds=early_stopping_rounds)
        fit.update(eval_set=[(vx, vy)], verbose=False)
    with xgboost.config_context(verbosity=0), quiet_stdout():
        model.fit(x, y, **fit)
    plain = clone(estimator)
    if early_stopping_rounds and "eval_set" in fit:
        plain.set_params(early_stopping_rounds=early_stopping_rounds)
    plain.load_model(bytearray(model.get_booster().save_raw("ubj")))
    return plain


def _arrays(path: str, pre: Any, target: str, classes: np.ndarray | None, class_weights: dict[Any, float] | None,
            features: int, probe: Any) -> tuple[Any, Any, Any]:
    """Dask arrays of the split's features, labels (encoded) and weights, one chunk per row group."""
    import dask
    import dask.array as da
    import pyarrow.parquet as pq

    groups = pq.ParquetFile(path).metadata
    sparse = hasattr(probe, "tocsr")
    meta = probe[:0] if sparse else np.empty((0, features), dtype=np.float32)
    xs, ys, ws = [], [], []
    for group in range(groups.num_row_groups):
        rows = groups.row_group(group).num_rows
        if rows == 0:
            continue
        part = dask.delayed(_read_group, nout=3, pure=True)(path, group, pre, target, classes, class_weights)
        xs.append(da.from_delayed(part[0], shape=(rows, features), dtype=meta.dtype, meta=meta))
        ys.append(da.from_delayed(part[1], shape=(rows,), dtype=np.float64 if classes is None else np.int32))
        ws.append(da.from_delayed(part[2], shape=(rows,), dtype=np.float64))
    if not xs:
        from mlflow_cli.core.errors import DataError

        raise DataError(f"The training split at {path} has no rows.", hint="Run mlw prepare again.")
    weights = da.concatenate(ws) if class_weights else None
    return da.concatenate(xs), da.concatenate(ys), weights


def _read_group(path: str, group: int, preprocessor: Any, target: str, classes: np.ndarray | None,
                class_weights: dict[Any, float] | None) -> tuple[Any, np.ndarray, np.ndarray]:
    """One row group's features (as the local fit makes them), labels and weights, on a worker."""
    import pyarrow.parquet as pq
    import xgboost

    # XGBoost's settings are per thread; the worker's thread that reads a part usually trains on it,
    # and joining the training prints each worker's rank at the default verbosity
    xgboost.set_config(verbosity=0)
    frame = pq.ParquetFile(path).read_row_group(group).to_pandas()
    labels = frame[target].to_numpy()
    x = preprocessor.transform(frame)
    x = x.tocsr() if hasattr(x, "tocsr") else np.asarray(x, dtype=np.float32)
    if classes is None:
        y = labels.astype(np.float64)
    else:
        y = np.searchsorted(classes, labels).astype(np.int32)  # LabelEncoder's own rule: classes sorted
    if class_weights and classes is not None:  # by class code, not a lookup per row
        w = np.array([class_weights[label] for label in classes], dtype=np.float64)[y]
    else:
        w = np.ones(len(labels))
    return x, y, w
