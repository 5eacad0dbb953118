"""One scoring mechanism: a `ScoringModel` loaded from a train version scores raw records in
whatever form they come (a pandas frame, column lists of JSON values, a float matrix, an
Arrow table) and picks its backend itself. `mlw evaluate`, `mlw predict` and `mlw serve` all
score through it, so the metrics evaluate reports come from the code users' predictions do.

Backends, all bit for bit the fitted Pipeline's output (pipeline.py, the reference):

- the Pipeline itself: any frame, preprocessing run once for labels and probabilities;
- the compiled preprocessor (compiled.py), for request-sized frames, column lists and
  matrices (serving), and frames of any size when it is all numbers;
- the XGBoost scoring bundle (bundle.py), for Arrow tables of plain numbers in batch scoring,
  without importing pandas, scikit-learn or XGBoost's Python package.

Records are checked first: the fast checks (data/validation/fast.py) decide whether a column
list, matrix or table is certainly valid; when they are not sure, these methods return None
and the caller checks a frame with data/validation/frame.py, which names each bad field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlflow_cli.core.errors import ArtifactError
from mlflow_cli.core.store import Artifact
from mlflow_cli.data.validation.fast import columns_certainly_valid, matrix_certainly_valid
from mlflow_cli.models.tasks import TASKS
from mlflow_cli.models.train_info import MODEL_FILE

SCHEMA_FILE = "schema.json"
PREDICTION, PROBA_PREFIX = "prediction", "proba_"  # scored files' columns: the prediction, proba_<class>
PARALLEL_ROWS = 2000  # larger requests predict on every core; smaller ones lose more to thread start-up


@dataclass
class Scores:
    """Predictions for some rows; `proba` columns follow `ScoringModel.classes`."""

    predictions: np.ndarray
    proba: np.ndarray | None = None


def read_schema(prepared: Artifact) -> dict[str, Any]:
    """prepare's input contract (schema.json), or ArtifactError naming what is wrong with it."""
    try:
        schema = json.loads(prepared.file(SCHEMA_FILE).read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ArtifactError(f"{prepared.ref}/{SCHEMA_FILE} is not valid JSON ({exc}).",
                            hint="Re-run `mlw prepare --force` and train again.") from None
    if not isinstance(schema, dict) or not isinstance(schema.get("columns"), dict) or not schema["columns"]:
        raise ArtifactError(f"{prepared.ref}/{SCHEMA_FILE} must hold an object with a non-empty 'columns' object.",
                            hint="Re-run `mlw prepare --force` and train again.")
    return schema


class ScoringModel:
    """A train version ready to score records (see the module docstring).

    `for_requests` (serving): the pipeline is unpickled now, scores on one thread (a server is
    parallel across requests) with a parallel twin for large requests, and is compiled for
    small ones. Otherwise (batch scoring) the scoring bundle is used when the train version has
    one, and the pipeline is unpickled only when a chunk needs it."""

    def __init__(self, train: Artifact, schema: dict[str, Any], task: str | None, *, for_requests: bool = False,
                 bundle: Any = None) -> None:
        self.train, self.schema, self.ref = train, schema, train.ref
        self.task = task or schema.get("task") or "unknown"
        self.bundle = bundle
        self.kind = TASKS.get(self.task)  # None for a task this mlw does not know (an old manifest)
        self._labels = self.kind is not None and self.kind.labels  # a classifier: classes and probabilities
        self.compiled: Any = None
        self.parallel: Any = None
        self._pipeline: Any = None
        if for_requests:
            from mlflow_cli.models.scoring.compiled import compile_preprocessor
            from mlflow_cli.models.scoring.pipeline import parallel_twin, single_threaded

            pipeline = single_threaded(self.pipeline)
            steps = getattr(pipeline, "steps", None) or []
            self.compiled = compile_preprocessor(steps[0][1], schema) if len(steps) > 1 else None
            self.parallel = parallel_twin(self.estimator)

    @classmethod
    def load(cls, train: Artifact, schema: dict[str, Any], task: str | None, *,
             for_requests: bool = False) -> ScoringModel:
        bundle = None if for_requests else _bundle(train, schema)
        return cls(train, schema, task, for_requests=for_requests, bundle=bundle)

    # ----------------------------------------------------------------------- what it is

    @property
    def pipeline(self) -> Any:
        """The fitted Pipeline, unpickled (verified against the manifest) on first use."""
        if self._pipeline is None:
            self._pipeline = self.train.unpickle(MODEL_FILE)
        return self._pipeline

    @property
    def estimator(self) -> Any:
        from mlflow_cli.models.scoring.pipeline import final_estimator

        return final_estimator(self.pipeline)

    @property
    def can_predict(self) -> bool:
        """False for clusterers without predict (DBSCAN, agglomerative): they cannot score new rows."""
        return self.bundle is not None or hasattr(self.estimator, "predict")

    def require_predict(self, cannot: str, hint: str) -> None:
        """ArtifactError unless the model can score new rows: "<ref> (<estimator>) cannot predict
        new rows, so it <cannot>."."""
        if not self.can_predict:
            raise ArtifactError(f"{self.ref} ({type(self.estimator).__name__}) cannot predict new rows, so it "
                                f"{cannot}.", hint=hint)

    @property
    def predicts_labels(self) -> bool:
        """A classifier: predictions are class labels, with classes (and often probabilities)."""
        return self._labels

    @property
    def prediction(self) -> str | None:
        """What a prediction is (models/tasks/: "label", "value" or "cluster"); None for an unknown task."""
        return self.kind.prediction if self.kind is not None else None

    @property
    def positive(self) -> Any:
        """A binary classifier's positive class (its train manifest's), else None."""
        from mlflow_cli.models.train_info import TrainInfo

        return TrainInfo.of(self.train.manifest).positive if self._labels else None

    @property
    def classes(self) -> np.ndarray | None:
        """The classifier's classes (the order of `proba` columns); None for other tasks."""
        if not self._labels:
            return None
        if self.bundle is not None:
            return self.bundle.classes
        found = getattr(self.estimator, "classes_", None)
        return None if found is None else np.asarray(found)

    @property
    def has_proba(self) -> bool:
        """Whether scores carry class probabilities (LinearSVC has none)."""
        if not self._labels:
            return False
        return self.bundle is not None or hasattr(self.estimator, "predict_proba")

    # ----------------------------------------------------------------------- scoring

    def score(self, frame: Any) -> Scores:
        """Scores for a pandas frame of raw records (checked by the caller)."""
        from mlflow_cli.models.scoring.pipeline import predict_scores

        labels, proba = predict_scores(self.pipeline, frame, want_proba=self.has_proba, compiled=self.compiled,
                                       estimator=self._estimator(len(frame)))
        return Scores(labels, proba)

    def score_columns(self, columns: dict[str, list[Any]], n: int, unseen: str) -> Scores | None:
        """Scores for column lists of JSON values without pandas, or None when the values are not
        certainly valid or there is no compiled form (the caller then checks a frame)."""
        if self.compiled is None or n == 0 or not columns_certainly_valid(columns, self.schema, unseen):
            return None
        try:
            features = self.compiled.transform_columns(columns, n)
        except (TypeError, ValueError, OverflowError):  # e.g. an integer too large for a float
            return None
        return self._from_features(features, n)

    def score_matrix(self, names: list[str], matrix: np.ndarray) -> Scores | None:
        """Scores for a float matrix whose columns are `names`, or None when it is not certainly
        valid or there is no compiled form (the caller then checks it as a frame)."""
        if self.compiled is None or not matrix_certainly_valid(names, matrix, self.schema):
            return None
        where = {name: j for j, name in enumerate(names)}
        features = self.compiled.transform_columns({c: matrix[:, where[c]] for c in self.schema["columns"]},
                                                   len(matrix))
        return self._from_features(features, len(matrix))

    def score_table(self, table: Any) -> Scores | None:
        """Scores for an Arrow table of raw records from the scoring bundle, without pandas, or None
        when there is no bundle or the table needs the full path (checks, issues, rejects)."""
        if self.bundle is None or table.num_rows == 0:
            return None
        try:
            found = self.bundle.score_table(table, self.schema)
        except (RuntimeError, ValueError):  # libxgboost refused the call: the pipeline scores this table
            return None
        return None if found is None else Scores(*found)

    def features(self, frame: Any) -> Any:
        """The preprocessing's output for a frame (what a clusterer sees)."""
        return self.pipeline[:-1].transform(frame)

    def _from_features(self, features: Any, n: int) -> Scores:
        from mlflow_cli.models.scoring.pipeline import predict_preprocessed

        labels, proba = predict_preprocessed(self.pipeline, features, want_proba=self.has_proba,
                                             estimator=self._estimator(n))
        return Scores(labels, proba)

    def _estimator(self, rows: int) -> Any:
        return self.parallel if self.parallel is not None and rows > PARALLEL_ROWS else None


def _bundle(train: Artifact, schema: dict[str, Any]) -> Any:
    """The train version's scoring bundle (bundle.py), when it has one this process can load."""
    from mlflow_cli.models.scoring.bundle import LeanModel

    try:
        return LeanModel.load(train.path, schema)
    except (OSError, ValueError, KeyError, RuntimeError, AttributeError):  # no usable libxgboost, an unreadable bundle
        return None
