"""compiled.py: the compiled preprocessing for small requests must give exactly (bit for bit)
what the scikit-learn pipeline gives, or not be used at all."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from mlflow_cli.models.scoring.compiled import compile_preprocessor
from mlflow_cli.models.scoring.pipeline import predict_scores

from ...conftest import DATA


def _train(mlw, config: Path, *extra: str) -> tuple[object, dict, Path]:
    result = mlw("run", "-c", config, "--until", "train", "--json", *extra)
    assert result.exit_code == 0, result.stderr
    root = config.parent / "artifacts" / "churn"
    prepare = sorted((root / "prepare").glob("2*"))[-1]
    train = sorted((root / "train").glob("2*"))[-1]
    return joblib.load(train / "model.joblib"), json.loads((prepare / "schema.json").read_text()), prepare


@pytest.mark.parametrize("model", ["logistic_regression", "xgboost"])
@pytest.mark.parametrize("encode", ["onehot", "ordinal", "target"])
def test_compiled_preprocessing_matches_sklearn(mlw, churn_project, model, encode):
    pipeline, schema, _ = _train(mlw, churn_project, "--set", f"train.model={model}",
                                 "--set", "prepare.drop_columns=[last_ticket, signup_date]",
                                 "--set", f"prepare.categorical.encode={encode}",
                                 "--set", "prepare.numeric.scale=robust",
                                 "--set", "train.params={}" if model == "logistic_regression"
                                 else "train.params={n_estimators: 20}")
    preprocess = pipeline.steps[0][1]
    compiled = compile_preprocessor(preprocess, schema)
    assert compiled is not None and not compiled.vectorized  # category tables: small frames only
    rows = pd.read_csv(DATA / "churn_new.csv").head(200)
    rows.loc[3, "plan"] = "platinum"          # unseen category
    rows.loc[4, "monthly_charges"] = np.nan   # missing number
    rows.loc[5, "region"] = np.nan            # missing category
    ours, theirs = compiled.transform(rows), preprocess.transform(rows)
    ours = ours.toarray() if hasattr(ours, "toarray") else ours
    theirs = theirs.toarray() if hasattr(theirs, "toarray") else theirs
    np.testing.assert_array_equal(ours, theirs)
    fast = predict_scores(pipeline, rows.head(10), want_proba=True, compiled=compiled)
    slow = predict_scores(pipeline, rows.head(10), want_proba=True)
    assert list(fast[0]) == list(slow[0]) == list(pipeline.predict(rows.head(10)))
    np.testing.assert_array_equal(fast[1], pipeline.predict_proba(rows.head(10)))


def test_pipelines_with_text_or_dates_are_not_compiled(mlw, churn_project):
    pipeline, schema, _ = _train(mlw, churn_project, "--set", "train.model=logistic_regression")
    assert compile_preprocessor(pipeline.steps[0][1], schema) is None


def test_compiled_is_refused_when_it_would_disagree(mlw, churn_project, monkeypatch):
    import mlflow_cli.models.scoring.compiled as scoring

    pipeline, schema, _ = _train(mlw, churn_project, "--set", "train.model=logistic_regression",
                                 "--set", "prepare.drop_columns=[last_ticket, signup_date]")
    preprocess = pipeline.steps[0][1]
    assert scoring.compile_preprocessor(preprocess, schema) is not None
    real = scoring._compile_branch

    def off_by_a_bit(step, columns, kinds):
        branch = real(step, columns, kinds)
        if isinstance(branch, scoring.NumericBranch):
            branch.operations = branch.operations + [(scoring.ADD, np.full(len(branch.columns), 1e-6))]
        return branch

    monkeypatch.setattr(scoring, "_compile_branch", off_by_a_bit)
    assert scoring.compile_preprocessor(preprocess, schema) is None


def test_target_encoder_is_found_in_the_fitted_pipeline(mlw, churn_project):
    from mlflow_cli.stages.train.training import _has_target_encoder

    pipeline, _, _ = _train(mlw, churn_project, "--set", "train.model=logistic_regression",
                            "--set", "prepare.categorical.encode=target")
    assert _has_target_encoder(pipeline.steps[0][1]) is True
    plain, _, _ = _train(mlw, churn_project, "--set", "train.model=logistic_regression",
                         "--set", "prepare.categorical.encode=onehot")
    assert _has_target_encoder(plain.steps[0][1]) is False


def test_numbers_only_pipelines_use_the_compiled_form_at_any_size(mlw, iris_project, monkeypatch):
    result = mlw("run", "-c", iris_project, "--until", "train", "--json", "--set", "train.model=logistic_regression")
    assert result.exit_code == 0, result.stderr
    root = iris_project.parent / "artifacts" / "iris"
    pipeline = joblib.load(sorted((root / "train").glob("2*"))[-1] / "model.joblib")
    schema = json.loads((sorted((root / "prepare").glob("2*"))[-1] / "schema.json").read_text())
    compiled = compile_preprocessor(pipeline.steps[0][1], schema)
    assert compiled is not None and compiled.vectorized
    rows = pd.read_csv(DATA / "iris.csv").drop(columns=["species"])
    rows = pd.concat([rows] * 5, ignore_index=True)  # 750 rows: more than SMALL_FRAME
    rows.loc[7, "petal_length"] = np.nan
    expected = pipeline.predict_proba(rows)
    calls = []
    monkeypatch.setattr(type(pipeline.steps[0][1]), "transform", lambda self, X: calls.append(1) or None)
    labels, proba = predict_scores(pipeline, rows, want_proba=True, compiled=compiled)
    assert not calls  # scikit-learn's transform was not needed
    np.testing.assert_array_equal(proba, expected)
