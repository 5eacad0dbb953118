"""The scoring bundle (models/scoring/bundle.py): `mlw train` writes it for XGBoost on numeric inputs, and
`mlw predict` then scores without scikit-learn. Its output must be exactly the full path's,
on real data (scikit-learn's bundled datasets), for binary, multiclass and regression models;
anything the checks would question goes through the full path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import mlflow_cli.models.scoring.model as scoring_model
from mlflow_cli.models.scoring.bundle import BOOSTER_FILE, SPEC_FILE, LeanModel, _agrees, _describe, export_bundle

from ...conftest import DATA, imports_of_mlw

CASES = {  # dataset, target, task; all columns numbers
    "breast_cancer": ("breast_cancer.csv", "diagnosis", "classification"),
    "iris": ("iris.csv", "species", "classification"),
    "diabetes": ("diabetes.csv", "progression", "regression"),
}


def _project(folder: Path, name: str, model: str = "xgboost") -> Path:
    data, target, task = CASES[name]
    shutil.copy(DATA / data, folder / data)
    config = folder / "mlw.yaml"
    config.write_text(f"project: {name}\n"
                      f"data: {{source: {{path: {data}}}, target: {target}}}\n"
                      f"train: {{task: {task}, model: {model}"
                      + (", params: {n_estimators: 40}" if model == "xgboost" else "") + "}\n")
    return config


def _train_version(config: Path) -> Path:
    return max(p for p in (config.parent / "artifacts").glob("*/train/2*"))


@pytest.fixture(scope="module", params=list(CASES))
def trained(request, tmp_path_factory):
    from typer.testing import CliRunner

    from mlflow_cli.cli import app

    folder = tmp_path_factory.mktemp(f"lean-{request.param}")
    config = _project(folder, request.param)
    for args in (["run", "-c", str(config), "--until", "train"], ["models", "promote", "latest", "-c", str(config)]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
    return request.param, config


def test_train_writes_a_bundle_that_scores_exactly_as_the_pipeline(trained, mlw, monkeypatch, tmp_path):
    name, config = trained
    version = _train_version(config)
    assert (version / BOOSTER_FILE).is_file() and (version / SPEC_FILE).is_file()
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["info"]["scoring_bundle"] is True
    assert {BOOSTER_FILE, SPEC_FILE} <= set(manifest["outputs"])  # hashed like every file of the version
    data, target, _ = CASES[name]
    rows = pd.read_csv(DATA / data).drop(columns=[target])
    rows.to_csv(config.parent / "input.csv", index=False)
    lean_out, full_out = tmp_path / "lean.parquet", tmp_path / "full.parquet"
    args = ("predict", "-c", config, "--input", config.parent / "input.csv", "--set", "predict.chunk_rows=100",
            "--json")
    ran = mlw(*args, "--output", lean_out)
    assert ran.exit_code == 0 and ran.json()["info"]["chunks_from_bundle"] == ran.json()["info"]["chunks"] > 1
    monkeypatch.setattr(scoring_model, "_bundle", lambda train, schema: None)
    ran = mlw(*args, "--output", full_out)
    assert ran.exit_code == 0 and ran.json()["info"]["chunks_from_bundle"] == 0
    lean, full = pq.read_table(lean_out), pq.read_table(full_out)
    assert lean.num_rows == len(rows) and lean.equals(full)
    assert "prediction" in lean.column_names


def test_predict_with_a_bundle_imports_neither_scikit_learn_nor_xgboost(trained, tmp_path):
    name, config = trained
    data, target, _ = CASES[name]
    pd.read_csv(DATA / data).drop(columns=[target]).to_csv(tmp_path / "input.csv", index=False)
    heavy, stderr = imports_of_mlw(["predict", "-c", config, "--input", tmp_path / "input.csv",
                                    "--output", tmp_path / "out.csv"], ("sklearn", "xgboost", "scipy", "pandas"))
    assert heavy == [], stderr
    scored = pd.read_csv(tmp_path / "out.csv")
    assert len(scored) == len(pd.read_csv(DATA / data)) and scored["prediction"].notna().all()


def test_rows_the_checks_question_take_the_full_path(trained, mlw, monkeypatch, tmp_path):
    name, config = trained
    data, target, _ = CASES[name]
    rows = pd.read_csv(DATA / data).drop(columns=[target])
    first = rows.columns[0]
    rows[first] = rows[first].astype(object)
    rows.loc[3, first] = "lots"  # not a number: this chunk is checked and row 4 is rejected
    rows.to_csv(tmp_path / "input.csv", index=False)
    second = rows.columns[1]
    gap = rows.assign(**{second: rows[second].where(rows.index != 5)}).drop(columns=[first]).assign(
        **{first: pd.read_csv(DATA / data)[first]})  # a missing value where training had none, in row 6
    gap.to_csv(tmp_path / "gap.csv", index=False)
    result = mlw("predict", "-c", config, "--input", tmp_path / "gap.csv", "--output", tmp_path / "gap.parquet",
                 "--rejects", tmp_path / "gap_rejects.csv")
    assert result.exit_code == 0, result.stderr
    assert pd.read_csv(tmp_path / "gap_rejects.csv")["_row"].tolist() == [6]
    args = ("predict", "-c", config, "--input", tmp_path / "input.csv")
    result = mlw(*args, "--output", tmp_path / "lean.parquet", "--rejects", tmp_path / "rejects.csv")
    assert result.exit_code == 0, result.stderr
    rejects = pd.read_csv(tmp_path / "rejects.csv")
    assert rejects["_row"].tolist() == [4] and first in rejects["_errors"][0]
    monkeypatch.setattr(scoring_model, "_bundle", lambda train, schema: None)
    assert mlw(*args, "--output", tmp_path / "full.parquet", "--rejects", tmp_path / "r2.csv").exit_code == 0
    assert pq.read_table(tmp_path / "lean.parquet").equals(pq.read_table(tmp_path / "full.parquet"))
    stopped = mlw(*args, "--output", tmp_path / "stop.parquet")
    assert stopped.exit_code == 3 and "row 4" in stopped.stderr


def test_a_chunk_with_a_missing_column_gets_the_full_paths_message(trained, mlw, tmp_path):
    name, config = trained
    data, target, _ = CASES[name]
    rows = pd.read_csv(DATA / data).drop(columns=[target])
    rows.drop(columns=[rows.columns[1]]).to_csv(tmp_path / "input.csv", index=False)
    result = mlw("predict", "-c", config, "--input", tmp_path / "input.csv", "--output", tmp_path / "o.parquet")
    assert result.exit_code == 3 and f"lacks column '{rows.columns[1]}'" in result.stderr


def test_no_bundle_for_models_the_lean_path_does_not_cover(tmp_path, mlw):
    config = _project(tmp_path, "breast_cancer", model="logistic_regression")
    assert mlw("run", "-c", config, "--until", "train").exit_code == 0
    version = _train_version(config)
    assert not (version / SPEC_FILE).exists()
    assert json.loads((version / "manifest.json").read_text())["info"]["scoring_bundle"] is False


def test_the_bundle_is_refused_unless_it_reproduces_the_pipeline_bit_for_bit(trained):
    import joblib

    name, config = trained
    version = _train_version(config)
    pipeline = joblib.load(version / "model.joblib")
    schema = json.loads(next((config.parent / "artifacts").glob("*/prepare/2*/schema.json")).read_text())
    data, target, task = CASES[name]
    rows = pd.read_csv(DATA / data).drop(columns=[target])
    spec, booster = _describe(pipeline, schema, task)
    assert _agrees(LeanModel(spec, booster), pipeline, rows, task)
    branch = spec["branches"][0]
    if branch.get("mean"):
        branch["mean"][0] = np.nextafter(branch["mean"][0], np.inf)  # one unit in the last place
    else:
        branch["fill"] = [f + 1 for f in branch["fill"]]
    assert not _agrees(LeanModel(spec, booster), pipeline, rows, task)
    assert export_bundle(pipeline, {**schema, "columns": {**schema["columns"], "extra": {"kind": "categorical"}}},
                         rows, task) is None  # not all numbers: no bundle
    changed = {**schema, "columns": dict(reversed(list(schema["columns"].items())))}
    assert LeanModel.load(version, changed) is None  # a bundle for other columns is not used


@pytest.mark.parametrize("dtype, codes", [("int8", [0, 1]), ("float32", [0.1, 0.2])])
def test_the_prediction_column_keeps_the_targets_type(tmp_path, mlw, monkeypatch, dtype, codes):
    frame = pd.read_csv(DATA / "breast_cancer.csv")
    frame["diagnosis"] = np.where(frame["diagnosis"] == "malignant", codes[1], codes[0]).astype(dtype)
    frame.to_parquet(tmp_path / "bc.parquet", index=False)
    config = tmp_path / "mlw.yaml"
    config.write_text("project: bc\ndata: {source: {path: bc.parquet}, target: diagnosis}\n"
                      "train: {model: xgboost, params: {n_estimators: 20}}\n")
    assert mlw("run", "-c", config, "--until", "train").exit_code == 0
    assert (_train_version(config) / SPEC_FILE).is_file()
    frame.drop(columns=["diagnosis"]).to_parquet(tmp_path / "input.parquet", index=False)
    args = ("predict", "-c", config, "--input", tmp_path / "input.parquet", "--model", "latest")
    assert mlw(*args, "--output", tmp_path / "lean.parquet").exit_code == 0
    monkeypatch.setattr(scoring_model, "_bundle", lambda train, schema: None)
    assert mlw(*args, "--output", tmp_path / "full.parquet").exit_code == 0
    lean, full = pq.read_table(tmp_path / "lean.parquet"), pq.read_table(tmp_path / "full.parquet")
    assert lean.schema.field("prediction").type == full.schema.field("prediction").type
    assert lean.equals(full)


def test_parquet_whose_pandas_metadata_reshapes_the_frame_takes_the_full_path(trained, mlw, tmp_path):
    from mlflow_cli.models.scoring.bundle import _pandas_reshapes

    name, config = trained
    data, target, _ = CASES[name]
    rows = pd.read_csv(DATA / data).drop(columns=[target])
    rows.to_parquet(tmp_path / "plain.parquet")
    rows.set_index(rows.columns[0]).to_parquet(tmp_path / "indexed.parquet")  # a feature becomes the index
    assert not _pandas_reshapes(pq.read_table(tmp_path / "plain.parquet"))
    assert _pandas_reshapes(pq.read_table(tmp_path / "indexed.parquet"))
    result = mlw("predict", "-c", config, "--input", tmp_path / "indexed.parquet", "--output", tmp_path / "o.csv")
    assert result.exit_code == 3 and f"lacks column '{rows.columns[0]}'" in result.stderr  # as the full path says


def test_a_library_failure_falls_back_to_the_pipeline(trained, mlw, monkeypatch, tmp_path):
    name, config = trained
    data, target, _ = CASES[name]
    pd.read_csv(DATA / data).drop(columns=[target]).to_csv(tmp_path / "input.csv", index=False)
    args = ("predict", "-c", config, "--input", tmp_path / "input.csv", "--json")
    assert mlw(*args, "--output", tmp_path / "lean.parquet").exit_code == 0

    def refuse(self, features):
        raise RuntimeError("libxgboost: simulated failure")

    monkeypatch.setattr(LeanModel, "predict", refuse)
    ran = mlw(*args, "--output", tmp_path / "fallback.parquet")
    assert ran.exit_code == 0 and ran.json()["info"]["chunks_from_bundle"] == 0
    assert pq.read_table(tmp_path / "fallback.parquet").equals(pq.read_table(tmp_path / "lean.parquet"))


def test_float_column_reads_arrow_buffers_as_pyarrow_would():
    """Offsets (sliced chunks), missing values, several and empty chunks, integers: the same
    floats as pyarrow's own conversion (which imports pandas, hence this reader)."""
    import pyarrow as pa

    from mlflow_cli.models.scoring.bundle import float_column

    ints = pa.array([1, None, 3, 4, None, 6, 7, 8, 9, None] * 3, type=pa.int32())
    cases = [
        pa.chunked_array([pa.array([1.5, None, 3.0]), pa.array([None, 5.0]), pa.array([], pa.float64())]),
        pa.chunked_array([ints.slice(3, 17), ints.slice(0, 2)]),  # offsets that are not whole bytes
        pa.chunked_array([pa.array([2 ** 53 + 1, -7], type=pa.int64())]),
        pa.chunked_array([], pa.float64()),
    ]
    for column in cases:
        expected = column.to_numpy().astype(float)  # numpy's conversion, as the full path's
        np.testing.assert_array_equal(float_column(column), expected)


@pytest.mark.parametrize("values", [np.array(["yes", "no", "héllo", ""], dtype=object), np.array(["a", "bb"]),
                                    np.array([True, False, True] * 5), np.array([1, -2], dtype=np.int8),
                                    np.array([0.5, np.nan]), np.array([3, 4], dtype=np.uint16)])
def test_arrow_array_matches_pa_array(values):
    import pyarrow as pa

    from mlflow_cli.models.scoring.bundle import arrow_array

    got, expected = arrow_array(values), pa.array(values)
    assert got.type == expected.type and got.equals(expected) if values.dtype.kind != "f" else \
        got.type == expected.type and np.array_equal(got.to_numpy(), expected.to_numpy(), equal_nan=True)
