"""The served model and the holder that follows an alias (hot reload).

A `ServedModel` is the train version's ScoringModel (models/scoring/model.py, loaded for
requests: the pipeline unpickled, compiled, single-threaded) plus everything a response or the
metadata endpoint needs (version, schema, classes, evaluation metrics); nothing in it changes
once loaded. A request takes
one reference to it (`holder.current`) and uses that object from parsing to logging, so
a request in flight finishes on the model it started with even if the alias moves.

`ModelHolder` polls registry.json every `serve.reload_interval_s` on a daemon thread.
When the served alias points at another version, the new version is verified and loaded
off the request path and then swapped in with a single reference assignment (atomic in
Python). A version that fails verification or loading is never served: the old model
stays, a warning is logged once per failed target, and the next move is tried again.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

import numpy as np
import pandas as pd

from mlflow_cli.core.errors import ArtifactError, MlwError
from mlflow_cli.core.lineage import newest_evaluation_of, prepare_of
from mlflow_cli.core.registry import read_registry, resolve_model
from mlflow_cli.core.store import Store
from mlflow_cli.models.metrics import plain
from mlflow_cli.models.scoring.model import Scores, ScoringModel, read_schema
from mlflow_cli.models.train_info import MODEL_FILE, TrainInfo
from mlflow_cli.serve.examples import example_record

__all__ = ["ModelHolder", "Scores", "ServedModel", "load_served_model"]

log = logging.getLogger("mlw.serve")


@dataclass(frozen=True)
class ServedModel:
    """A ScoringModel loaded for requests, with what responses and /metadata tell about it."""

    project: str
    version: str
    alias: str | None
    scoring: ScoringModel
    target: str | None = None
    metric: str | None = None
    estimator_name: str | None = None
    classes: list[Any] | None = None
    data_version: str | None = None
    evaluation: dict[str, Any] | None = None
    created: str | None = None
    recommender: Any = None   # recommendation: the Recommender (serve/recommend.py answers its routes)
    loaded_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    @property
    def task(self) -> str:
        return self.scoring.task

    @property
    def schema(self) -> dict[str, Any]:
        return self.scoring.schema

    @property
    def pipeline(self) -> Any:
        return self.scoring.pipeline

    @property
    def compiled(self) -> Any:
        """The compiled preprocessor (models/scoring/compiled.py), when the pipeline allows."""
        return self.scoring.compiled

    @property
    def parallel(self) -> Any:
        """The final estimator predicting on every core, for large requests (XGBoost)."""
        return self.scoring.parallel

    @property
    def has_proba(self) -> bool:
        return self.classes is not None and self.scoring.has_proba

    @property
    def columns(self) -> list[str]:
        return list(self.schema["columns"])

    @property
    def is_classifier(self) -> bool:
        return self.scoring.predicts_labels

    @property
    def prediction(self) -> str | None:
        """What a prediction is: "label", "value" or "cluster" (None for an unknown task)."""
        return self.scoring.prediction

    def predict(self, frame: pd.DataFrame) -> Scores:
        """Scores for a checked frame (ScoringModel.score)."""
        return self.scoring.score(frame)

    def predict_columns(self, columns: dict[str, list[Any]], n: int, unseen: str) -> Scores | None:
        """Scores for column lists of JSON values without pandas, or None when the values are not
        certainly valid (the caller then validates the frame, which names each bad field)."""
        return self.scoring.score_columns(columns, n, unseen)

    def predict_matrix(self, names: list[str], matrix: np.ndarray) -> Scores | None:
        """Scores for a float matrix whose columns are `names` (serve/matrix.py), or None when
        it is not certainly valid (the caller then validates it as a frame)."""
        return self.scoring.score_matrix(names, matrix)


def load_served_model(store: Store, ref: str) -> ServedModel:
    """Resolve, verify and load a model with its input schema, or raise ArtifactError.

    Every file is checked against its manifest before the pickle is opened: loading a
    tampered pickle would run code."""
    artifact, alias = resolve_model(store, ref)
    manifest, info = artifact.manifest, TrainInfo.of(artifact.manifest)
    prepared = prepare_of(store, artifact)
    schema = read_schema(prepared)
    if info.task == "recommendation":  # no pipeline: the Recommender answers (serve/recommend.py)
        return ServedModel(
            project=store.project, version=artifact.version, alias=alias,
            scoring=ScoringModel(artifact, schema, info.task), metric=info.metric, estimator_name=info.model,
            data_version=info.data or prepared.ref, evaluation=_evaluation(store, artifact.version),
            created=manifest.get("created"), recommender=artifact.unpickle(MODEL_FILE))
    scoring = ScoringModel.load(artifact, schema, info.task, for_requests=True)
    scoring.require_predict("cannot be served", hint="Serve a model whose estimator has a predict method.")
    estimator = scoring.estimator
    classes = None
    if scoring.predicts_labels:
        found = getattr(estimator, "classes_", None)
        classes = [plain(c) for c in (found if found is not None else info.classes or [])] or None
    served = ServedModel(
        project=store.project, version=artifact.version, alias=alias, scoring=scoring,
        target=info.target or (schema.get("target") or {}).get("name"), metric=info.metric,
        estimator_name=info.model, classes=classes, data_version=info.data or prepared.ref,
        evaluation=_evaluation(store, artifact.version), created=manifest.get("created"))
    _warm_up(served)
    return served


def _warm_up(model: ServedModel) -> None:
    """Score the schema's example record once, so the first client does not pay first-call costs."""
    record = example_record(model.schema)
    try:
        model.predict(pd.DataFrame([record]))
        model.predict_columns({name: [value] for name, value in record.items()}, 1, "allow")
    except Exception as exc:  # an odd schema example is no reason to refuse the model
        log.debug("Warm-up prediction failed: %s", exc)


def _evaluation(store: Store, version: str) -> dict[str, Any] | None:
    """Metrics of the newest evaluate version that scored this train version."""
    found = newest_evaluation_of(store, version)
    if found is None:
        return None
    candidate, manifest = found
    info = manifest.get("info", {})
    return {"version": candidate, "metrics": manifest.get("metrics", {}), "passed": info.get("passed"),
            "test_rows": info.get("test_rows")}


class ModelHolder:
    """The current model, swapped atomically when the served alias moves."""

    def __init__(self, store: Store, ref: str, model: ServedModel, interval_s: float,
                 on_swap: Callable[[ServedModel, ServedModel], None] | None = None,
                 on_refuse: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.ref = ref
        self.current = model
        self.interval_s = interval_s
        self.on_swap = on_swap
        self.on_refuse = on_refuse
        self._failed: str | None = None
        self._unreadable = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.watchers: list[Callable[[], Any]] = []  # also run on each poll (a recommender folds in new batches)

    @property
    def follows_alias(self) -> bool:
        return self.current.alias is not None

    def start(self) -> None:
        if self.follows_alias and self._thread is None:
            self._thread = threading.Thread(target=self._poll, name="mlw-model-reload", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _poll(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.check()
            except Exception:  # never let the poller die: the old model keeps serving
                log.exception("Checking the registry for a new '%s' model failed; still serving %s.",
                              self.ref, self.current.version)
            for watch in self.watchers:
                try:
                    watch()
                except Exception:
                    log.exception("A watcher of the served model failed; still serving %s.", self.current.version)

    def target_version(self) -> str | None:
        """The version the alias points at now, or None when registry.json cannot say."""
        try:
            entry = read_registry(self.store)["aliases"].get(self.ref)
        except (ArtifactError, OSError) as exc:
            if not self._unreadable:  # once per outage, not once per poll
                log.warning("Cannot read the registry (%s); still serving %s.", exc, self.current.version)
            self._unreadable = True
            return None
        self._unreadable = False
        return entry["version"] if entry else None

    def check(self) -> bool:
        """Load and swap in the alias's new version, if it moved. True when a swap happened."""
        target = self.target_version()
        if target is None or target == self.current.version or target == self._failed:
            return False
        try:
            model = load_served_model(self.store, self.ref)
        except Exception as exc:  # MlwError (integrity, unknown version) or a library failing to unpickle
            self._failed = target
            reason = str(exc) if isinstance(exc, MlwError) else f"{type(exc).__name__}: {exc}."
            log.warning("Alias '%s' now points at %s, which cannot be served: %s Still serving %s.",
                        self.ref, target, reason, self.current.version)
            if self.on_refuse is not None:
                self.on_refuse(target)
            return False
        previous, self.current, self._failed = self.current, model, None
        log.info("Alias '%s' moved: now serving %s (was %s).", self.ref, model.version, previous.version)
        if self.on_swap is not None:
            self.on_swap(previous, model)
        return True
