"""models/scoring/model.py: what a ScoringModel says of itself for each task (and for a task it
does not know), that a failing scoring bundle changes nothing for the next table, and the one
"cannot predict" message."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pytest
from sklearn.cluster import DBSCAN
from sklearn.pipeline import Pipeline

from mlflow_cli.core.errors import ArtifactError
from mlflow_cli.models.scoring.model import ScoringModel
from mlflow_cli.serve.model import ServedModel
from mlflow_cli.serve.responses import v2_metadata

SCHEMA = {"columns": {"a": {"kind": "numeric", "dtype": "float64", "nullable": True}}}


def _model(task: str | None, *, bundle=None, estimator=None, schema=SCHEMA) -> ScoringModel:
    train = SimpleNamespace(ref="train/v1", unpickle=lambda name: Pipeline([("model", estimator)]))
    return ScoringModel(train, schema, task, bundle=bundle)


@pytest.mark.parametrize("task, prediction, labels", [
    ("classification", "label", True), ("regression", "value", False), ("clustering", "cluster", False)])
def test_each_task_says_what_its_predictions_are(task, prediction, labels):
    model = _model(task)
    assert (model.task, model.prediction, model.predicts_labels) == (task, prediction, labels)


def test_a_task_it_does_not_know_scores_as_before_the_task_seam():
    """An old manifest without a task: no labels, no probabilities, predict writes floats (the
    Scorer's fallback) and /v2 metadata says INT64, as before the layout."""
    model = _model(None)
    assert (model.task, model.prediction, model.predicts_labels, model.classes, model.has_proba) == \
        ("unknown", None, False, None, False)
    assert _model(None, schema={**SCHEMA, "task": "regression"}).prediction == "value"  # prepare's record
    served = ServedModel(project="p", version="v1", alias=None, scoring=model)
    assert v2_metadata(served)["outputs"] == [{"name": "predict", "datatype": "INT64", "shape": [-1]}]


def test_a_bundle_failure_changes_nothing_for_the_next_table():
    """score_table runs inside the engine's part function: it must not switch the model's backend
    (a Dask worker's copy would differ from the driver's)."""
    calls = []

    class Flaky:
        classes = None

        def score_table(self, table, schema):
            calls.append(table.num_rows)
            if len(calls) == 1:
                raise RuntimeError("libxgboost: simulated failure")
            return np.zeros(table.num_rows), None

    bundle = Flaky()
    model = _model("regression", bundle=bundle)
    table = pa.table({"a": [1.0, 2.0]})
    assert model.score_table(table) is None
    assert model.bundle is bundle
    scores = model.score_table(table)
    assert scores is not None and scores.predictions.tolist() == [0.0, 0.0] and calls == [2, 2]


def test_require_predict_names_the_model_its_estimator_and_the_fix():
    model = _model("clustering", estimator=DBSCAN())
    assert not model.can_predict
    with pytest.raises(ArtifactError) as caught:
        model.require_predict("cannot be served", hint="Serve a model whose estimator has a predict method.")
    assert str(caught.value).startswith("train/v1 (DBSCAN) cannot predict new rows, so it cannot be served.")
    assert caught.value.hint == "Serve a model whose estimator has a predict method."
