"""Models saved before the package layout changed keep loading, scoring and serving.

`tests/fixtures/legacy_41c61df` is a real project written by mlw at commit 41c61df (the commit
before the layout of issue 10): ingest, prepare and an XGBoost train version promoted to
`production`, and `expected.csv`, what `mlw predict` wrote with that commit. Its pickles name
`mlflow_cli.features.TypeCoercer`, `FeatureColumns`, `DateParts` and
`mlflow_cli.adapters.LabelEncodedClassifier`, the module paths of that time.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from ..conftest import REPO, run_mlw
from ..serve.conftest import Project, start_server

LEGACY = REPO / "tests" / "fixtures" / "legacy_41c61df"
OLD_MODULES = {b"mlflow_cli.features", b"mlflow_cli.adapters"}


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    folder = tmp_path / "legacy"
    shutil.copytree(LEGACY, folder)
    return folder / "mlw.yaml"


def _model_file(config: Path) -> Path:
    return next((config.parent / "artifacts" / "legacy" / "train").glob("*/model.joblib"))


def test_legacy_model_names_the_old_module_paths(legacy: Path):
    """The fixture really is an old pickle (else the tests below would prove nothing)."""
    names = set(re.findall(rb"mlflow_cli\.[a-z_.]+", _model_file(legacy).read_bytes()))
    assert names == OLD_MODULES


def test_legacy_model_loads_with_its_classes(legacy: Path):
    from mlflow_cli.models.adapters import LabelEncodedClassifier
    from mlflow_cli.models.features import DateParts, FeatureColumns, TypeCoercer

    model = joblib.load(_model_file(legacy))
    parts = {type(v) for v in model.get_params(deep=True).values() if hasattr(v, "fit")}
    assert {TypeCoercer, FeatureColumns, DateParts, LabelEncodedClassifier} <= parts
    assert type(model.steps[-1][1]) is LabelEncodedClassifier


def test_legacy_model_predicts_what_it_predicted_before(legacy: Path):
    out = legacy.parent / "scored.csv"
    done = run_mlw("predict", "-c", legacy, "--input", legacy.parent / "data" / "score.csv", "--output", out)
    assert done.exit_code == 0, done.stderr
    assert out.read_text() == (legacy.parent / "expected.csv").read_text()
    assert run_mlw("artifacts", "verify", "-c", legacy).exit_code == 0


def test_legacy_model_serves_what_it_predicted_before(legacy: Path):
    expected = pd.read_csv(legacy.parent / "expected.csv")
    records = pd.read_csv(legacy.parent / "data" / "score.csv", dtype={"churned": str}).head(10)
    body = [{k: (None if pd.isna(v) else v) for k, v in row.items()} for row in records.to_dict("records")]
    version = (legacy.parent / "artifacts" / "legacy" / "train" / "latest").read_text().strip()
    server = start_server(Project(legacy, version))
    try:
        with server.client() as client:
            response = client.post("/predict", json=body)
    finally:
        server.stop()
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["model_version"] == version
    assert answer["predictions"] == expected["prediction"].head(10).tolist()
    got = np.array([row["yes"] for row in answer["probabilities"]])
    np.testing.assert_allclose(got, expected["proba_yes"].head(10).to_numpy(), rtol=0, atol=1e-7)
