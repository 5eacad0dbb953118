"""Cross-validation as train does it: the same folds for every configuration it scores, each fold's
out-of-fold predictions kept (class probabilities, or values), and every metric computed from
them. Auto compares candidates and builds its ensemble from these predictions; `train.cv`
reports the saved model's folds the same way.

Folds fit in threads (joblib's threading backend): the data is shared, not copied, and the
estimators here release the GIL in their heavy loops.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mlflow_cli.models.metrics import metric_of_predictions

if TYPE_CHECKING:
    from mlflow_cli.stages.train.training import Trainer

# auto's folds by the training rows: (most rows, folds, repeats)
AUTO_FOLDS = ((1000, 5, 2), (20000, 5, 1))
LARGE_FOLDS = (3, 1)


@dataclass
class FoldRun:
    predictions: list[Any]   # each fold's outputs on its held-out rows, in the fold's row order
    fit_seconds: float       # the mean time one fold took to fit


class Folds:
    """Fixed splits of a Trainer's training rows."""

    def __init__(self, trainer: Trainer, folds: int, repeats: int = 1) -> None:
        self.trainer = trainer
        self.y = trainer.y
        labels = trainer.kind.labels
        splitter = trainer._splitter(folds, repeats)
        self.splits = list(splitter.split(trainer.train, self.y))
        self.description = f"{folds}-fold CV" + (f" x {repeats}" if repeats > 1 else "")
        self.classes = np.unique(np.asarray(self.y)) if labels else None
        self.prediction_ndim = 2 if labels else 1
        self.train_rows = len(trainer.train) * (folds - 1) // folds
        names = [trainer.metric] + [m for m in trainer.kind.cv_report if m != trainer.metric]
        if labels and self.classes is not None and len(self.classes) > 2:
            names = [m for m in names if m not in ("f1", "precision", "recall")]
        self.report = names

    @classmethod
    def for_auto(cls, trainer: Trainer, quick: bool = False) -> Folds:
        """train.cv folds when set; else by the rows: 5 folds twice up to 1,000 rows, 5 up to 20,000,
        3 above (`quick`, a budget of 0: 3). Never more folds than the rarest class has rows (down to 2)."""
        rows = len(trainer.train)
        folds, repeats = next(((f, r) for most, f, r in AUTO_FOLDS if rows <= most), LARGE_FOLDS)
        if quick:
            folds, repeats = LARGE_FOLDS
        if trainer.cfg.cv >= 2:
            folds, repeats = trainer.cfg.cv, 1
        elif trainer.kind.labels:
            folds = max(2, min(folds, int(trainer.y.value_counts().min())))
        return cls(trainer, folds, repeats)

    def run(self, estimator: Any, bar: Any = None) -> FoldRun:
        """Fit `estimator` (in the trainer's Pipeline) on each fold; its held-out outputs."""
        from joblib import Parallel, delayed, parallel_config
        from threadpoolctl import threadpool_limits

        trainer = self.trainer
        weights = trainer._sample_weights(estimator)
        template = trainer._pipeline(estimator)
        X, y, classes = trainer.train, self.y, self.classes
        name = type(estimator).__name__

        # Folds in parallel threads, each fit on one core: OpenMP (hist gradient boosting) and BLAS
        # pools inside each would only contend with the other folds for the same cores. On a Dask
        # engine, joblib's dask backend fits each fold on a worker (the function below takes what it
        # needs as arguments, so the frame is sent once, not inside each task).
        limits = threadpool_limits(limits=1) if trainer.n_jobs != 1 and not trainer.distributed else nullcontext()
        done = []
        with parallel_config(backend=trainer.joblib_backend()), limits:
            fits = Parallel(n_jobs=trainer.n_jobs, return_as="generator")(
                delayed(_fit_fold)(template, X, y, a, b, weights, classes, name) for a, b in self.splits)
            for output in fits:
                done.append(output)
                if bar is not None:
                    bar.advance(1)
        return FoldRun([d[0] for d in done], float(np.mean([d[1] for d in done])))

    def scores(self, predictions: list[Any], name: str) -> np.ndarray:
        """`name` on each fold (NaN where undefined)."""
        positive = self.trainer.positive
        values = [metric_of_predictions(name, self.y.iloc[held_out].to_numpy(), output, self.classes, positive)
                  for (_, held_out), output in zip(self.splits, predictions)]
        return np.array([np.nan if v is None else v for v in values], dtype=float)

    def cv(self, predictions: list[Any]) -> dict[str, dict[str, float]]:
        """{metric: {"mean", "std"}} over the folds, for every metric defined on all of them."""
        out = {}
        for name in self.report:
            values = self.scores(predictions, name)
            if np.all(np.isfinite(values)):
                out[name] = {"mean": float(values.mean()), "std": float(values.std())}
        return out


def _fit_fold(template: Any, X: Any, y: Any, train_rows: np.ndarray, held_out: np.ndarray,
              weights: dict[str, Any], classes: np.ndarray | None, name: str) -> tuple[Any, float]:
    """One fold: a clone of the unfitted Pipeline fitted on `train_rows`, its outputs on `held_out`
    and the seconds the fit took. Touches nothing but its arguments (it may run on a Dask worker)."""
    from sklearn.base import clone

    pipeline = clone(template)
    fit_params = {f"model__{k}": v[train_rows] for k, v in weights.items()}
    started = time.perf_counter()
    try:
        pipeline.fit(X.iloc[train_rows], y.iloc[train_rows], **fit_params)
    except ValueError as exc:
        from mlflow_cli.stages.train.training import fit_error

        raise fit_error(exc, f"Cross-validating {name}") from None
    seconds = time.perf_counter() - started
    return fold_outputs(pipeline, X.iloc[held_out], classes), seconds


def fold_outputs(pipeline: Any, rows: Any, classes: np.ndarray | None) -> Any:
    """Probabilities in the columns of every class (a fold may lack one), or labels for a
    classifier without them, or values."""
    if classes is None:
        return np.asarray(pipeline.predict(rows), dtype=float)
    if not hasattr(pipeline, "predict_proba"):
        return np.asarray(pipeline.predict(rows))
    proba = np.asarray(pipeline.predict_proba(rows), dtype=float)
    proba /= proba.sum(axis=1, keepdims=True)  # float32 boosters' rows sum to 1 only roughly
    fitted = list(pipeline.classes_)
    if fitted == list(classes):
        return proba
    full = np.zeros((len(rows), len(classes)))
    for j, label in enumerate(fitted):
        full[:, int(np.flatnonzero(classes == label)[0])] = proba[:, j]
    return full
