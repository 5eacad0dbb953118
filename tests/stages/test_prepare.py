"""`mlw prepare`: cleaning, type coercion, splits, the pipeline fitted on train only, the
schema, defaults, caching, and every bad input with its message and exit code."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from ..conftest import DATA, write_config


def _run(mlw, config: Path, *extra: str):
    ingest = mlw("ingest", "-c", config, *extra)
    assert ingest.exit_code == 0, ingest.stderr
    result = mlw("prepare", "-c", config, "--json", *extra)
    assert result.exit_code == 0, result.stderr
    return result.json()


def _split(result: dict, name: str) -> pd.DataFrame:
    return pd.read_parquet(Path(result["path"]) / f"{name}.parquet")


def _project(tmp_path: Path, frame: pd.DataFrame, **config) -> Path:
    frame.to_csv(tmp_path / "data.csv", index=False)
    data = {"source": {"path": "data.csv"}, **config.pop("data", {})}
    return write_config(tmp_path, {"project": "t", "data": data, **config})


# ------------------------------------------------------------------ cleaning and splitting


def test_prepare_cleans_churn(mlw, churn_project):
    result = _run(mlw, churn_project)
    info = result["info"]
    raw = pd.read_csv(DATA / "churn.csv")
    assert info["rows_in"] == len(raw) == 2000
    assert info["dropped"] == {"duplicate_rows": int(raw.duplicated().sum()),
                               "missing_target": int(raw.drop_duplicates()["churned"].isna().sum())}
    assert info["dropped"] == {"duplicate_rows": 10, "missing_target": 5}
    assert info["rows_out"] == 1985
    assert info["splits"] == {"train": 1588, "test": 397}
    assert info["split_method"] == "stratified"
    assert info["coerced"] == {"autopay": "text -> boolean"}
    assert info["feature_kinds"]["text"] == ["last_ticket"]
    assert info["feature_kinds"]["datetime"] == ["signup_date"]
    assert "customer_id" not in sum(info["feature_kinds"].values(), [])
    train, test = _split(result, "train"), _split(result, "test")
    assert set(train["customer_id"]).isdisjoint(test["customer_id"])
    assert train["churned"].notna().all() and test["churned"].notna().all()
    # raw form kept: the pipeline, not the stored split, does the coercion
    assert set(train["autopay"].unique()) == {"yes", "no"}


def test_prepare_stratified_split_keeps_class_balance(mlw, churn_project):
    balance = _run(mlw, churn_project)["info"]["class_balance"]
    share = {split: counts["yes"] / sum(counts.values()) for split, counts in balance.items()}
    assert abs(share["train"] - share["test"]) < 0.01


def test_prepare_split_is_reproducible_from_seed(mlw, churn_project):
    first = _split(_run(mlw, churn_project), "test")["customer_id"].tolist()
    again = _split(_run(mlw, churn_project, "--force"), "test")["customer_id"].tolist()
    other = _split(_run(mlw, churn_project, "--set", "prepare.split.seed=7"), "test")["customer_id"].tolist()
    assert first == again
    assert first != other


def test_prepare_validation_split(mlw, churn_project):
    result = _run(mlw, churn_project, "--set", "prepare.split.valid_size=0.1")
    assert result["info"]["splits"] == {"train": 1390, "test": 397, "valid": 198}
    ids = [set(_split(result, s)["customer_id"]) for s in ("train", "valid", "test")]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])


def test_prepare_time_split_trains_on_earlier_rows(mlw, churn_project):
    result = _run(mlw, churn_project, "--set", "data.time_column=signup_date")
    assert result["info"]["split_method"] == "time"
    train, test = _split(result, "train"), _split(result, "test")
    assert pd.to_datetime(train["signup_date"]).max() <= pd.to_datetime(test["signup_date"]).min()


def test_prepare_group_split_keeps_groups_together(mlw, churn_project):
    result = _run(mlw, churn_project, "--set", "prepare.split.group_column=region")
    assert result["info"]["split_method"] == "group"
    train, test = _split(result, "train"), _split(result, "test")
    assert set(train["region"]).isdisjoint(test["region"])


def test_prepare_regression_uses_random_split(mlw, tmp_path):
    shutil.copy(DATA / "diabetes.csv", tmp_path / "d.csv")
    config = write_config(tmp_path, {"project": "d", "data": {"source": {"path": "d.csv"}, "target": "progression"}})
    info = _run(mlw, config)["info"]
    assert info["task"] == "regression"
    assert info["split_method"] == "random"
    assert "class_balance" not in info


# ------------------------------------------------------------------ the fitted pipeline


def test_prepare_pipeline_is_fitted_on_train_only(mlw, churn_project):
    result = _run(mlw, churn_project)
    pipeline = joblib.load(Path(result["path"]) / "preprocessor.joblib")
    train = _split(result, "train")
    features = pipeline.named_steps["features"]
    numeric = next(t for name, t, cols in features.transformers_ if "tenure_months" in cols)
    scaler = numeric.steps[-1][1]
    columns = next(cols for name, t, cols in features.transformers_ if "tenure_months" in cols)
    index = list(columns).index("tenure_months")
    assert scaler.mean_[index] == pytest.approx(train["tenure_months"].mean())
    everything = pd.concat([train, _split(result, "test")])
    assert scaler.mean_[index] != pytest.approx(everything["tenure_months"].mean(), abs=1e-9)


def test_prepare_pipeline_takes_raw_source_records(mlw, churn_project):
    result = _run(mlw, churn_project)
    pipeline = joblib.load(Path(result["path"]) / "preprocessor.joblib")
    raw = pd.read_csv(DATA / "churn_new.csv").head(50)
    out = pipeline.transform(raw)
    assert out.shape[0] == 50
    names = list(pipeline.get_feature_names_out())
    assert out.shape[1] == len(names) == result["info"]["features_out"]
    assert "autopay" in names and "signup_date_year" in names
    assert any(n.startswith("region_") for n in names)
    assert "billing" in names  # a TF-IDF word from last_ticket
    dense = out.toarray() if hasattr(out, "toarray") else out
    assert np.isfinite(dense).all()
    autopay = dense[:, names.index("autopay")]
    assert set(np.unique(autopay)) <= {0.0, 1.0}
    assert (autopay == (raw["autopay"] == "yes").to_numpy()).all()


def test_prepare_defaults_work_with_only_source_and_target(mlw, iris_project):
    result = _run(mlw, iris_project)
    info = result["info"]
    assert info["task"] == "classification"
    assert info["features_in"] == 4 and info["features_out"] == 4
    assert info["dropped"] == {"duplicate_rows": 1}  # iris has one exact duplicate row
    assert sorted(info["class_balance"]["test"]) == ["setosa", "versicolor", "virginica"]


def test_prepare_schema_records_the_input_contract(mlw, churn_project):
    result = _run(mlw, churn_project)
    schema = json.loads((Path(result["path"]) / "schema.json").read_text())
    columns = schema["columns"]
    train = _split(result, "train")
    assert columns["plan"]["kind"] == "categorical"
    assert columns["plan"]["categories"] == sorted(train["plan"].dropna().unique())
    assert columns["plan"]["nullable"] is True
    assert columns["tenure_months"]["nullable"] is False
    assert columns["tenure_months"]["min"] == train["tenure_months"].min()
    assert columns["tenure_months"]["max"] == train["tenure_months"].max()
    assert columns["autopay"]["kind"] == "boolean"
    assert "customer_id" not in columns and "churned" not in columns
    assert schema["target"] == {"name": "churned", "dtype": "str", "task": "classification",
                                "classes": ["no", "yes"]}
    assert schema["id_columns"] == ["customer_id"]


def test_prepare_coerces_numeric_strings_and_iso_dates(mlw, tmp_path):
    rng = np.random.default_rng(0)
    n = 200
    frame = pd.DataFrame({
        "amount": [f"{v:.2f}" if i % 17 else "n/a" for i, v in enumerate(rng.normal(100, 10, n))],
        "when": pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
        "flag": rng.choice(["Y", "N"], n),
        "label": rng.choice(["a", "b"], n),
    })
    (tmp_path / "d.json").write_text(frame.to_json(orient="records"))
    config = write_config(tmp_path, {"project": "t", "data": {"source": {"path": "d.json"}, "target": "label"}})
    result = _run(mlw, config)
    assert result["info"]["coerced"] == {"amount": "text -> numeric", "when": "text -> datetime",
                                         "flag": "text -> boolean"}
    assert result["info"]["feature_kinds"]["datetime"] == ["when"]
    pipeline = joblib.load(Path(result["path"]) / "preprocessor.joblib")
    coerced = pipeline.named_steps["coerce"].transform(frame)
    assert coerced["amount"].isna().sum() == sum(1 for i in range(n) if i % 17 == 0)
    assert coerced["flag"].tolist() == (frame["flag"] == "Y").astype(float).tolist()


def test_prepare_column_overrides(mlw, churn_project):
    result = _run(mlw, churn_project,
                  "--set", "prepare.columns={plan: {encode: ordinal}, region: {type: drop}, "
                           "monthly_charges: {impute: drop}}",
                  "--set", "prepare.drop_columns=[last_ticket]")
    info = result["info"]
    features = sum(info["feature_kinds"].values(), [])
    assert "region" not in features and "last_ticket" not in features
    missing_charges = pd.read_csv(DATA / "churn.csv").drop_duplicates().dropna(subset=["churned"])
    assert info["dropped"]["missing_monthly_charges"] == int(missing_charges["monthly_charges"].isna().sum())
    names = list(joblib.load(Path(result["path"]) / "preprocessor.joblib").get_feature_names_out())
    assert "plan" in names  # ordinal: one column, not one per category


def test_prepare_high_cardinality_uses_target_encoding(mlw, tmp_path):
    rng = np.random.default_rng(1)
    n = 600
    frame = pd.DataFrame({"city": [f"city{i}" for i in rng.integers(0, 80, n)],
                          "x": rng.normal(size=n), "y": rng.choice(["p", "q"], n)})
    config = _project(tmp_path, frame, data={"target": "y"})
    result = _run(mlw, config)
    pipeline = joblib.load(Path(result["path"]) / "preprocessor.joblib")
    assert result["info"]["features_out"] == 2
    assert "TargetEncoder" in repr(pipeline)


# ------------------------------------------------------------------ caching


def test_prepare_cache_and_force(mlw, churn_project):
    first = _run(mlw, churn_project)
    again = mlw("prepare", "-c", churn_project, "--json")
    assert again.json()["cached"] is True and again.json()["version"] == first["version"]
    assert "cached" in mlw("prepare", "-c", churn_project).stderr
    forced = mlw("prepare", "-c", churn_project, "--json", "--force").json()
    assert forced["cached"] is False and forced["version"] != first["version"]
    changed = mlw("prepare", "-c", churn_project, "--json", "--set", "prepare.split.test_size=0.3").json()
    assert changed["cached"] is False and changed["info"]["splits"]["test"] == 596


def test_prepare_from_version(mlw, churn_project):
    first = mlw("ingest", "-c", churn_project, "--json").json()["version"]
    mlw("ingest", "-c", churn_project, "--force")
    result = mlw("prepare", "-c", churn_project, "--from", first, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["info"]["source"] == f"ingest/{first}"


# ------------------------------------------------------------------ bad input

BAD_COLUMNS = [
    ("target column missing", "data.target=churn",
     "names column 'churn', which the data does not have. Did you mean 'churned'?"),
    ("id column missing", "data.id_columns=[customer]", "`data.id_columns` (from --set) names column 'customer'"),
    ("drop column missing", "prepare.drop_columns=[regoin]",
     "names column 'regoin', which the data does not have. Did you mean 'region'?"),
    ("group column missing", "prepare.split.group_column=area", "names column 'area'"),
]


@pytest.mark.parametrize("case,override,message", BAD_COLUMNS, ids=[c[0] for c in BAD_COLUMNS])
def test_prepare_missing_columns_are_data_errors(mlw, churn_project, case, override, message):
    assert mlw("ingest", "-c", churn_project).exit_code == 0
    result = mlw("prepare", "-c", churn_project, "--set", override)
    assert result.exit_code == 3
    assert message in result.stderr
    assert "Columns are: customer_id, signup_date, plan" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (churn_project.parent / "artifacts" / "churn" / "prepare").exists()


def test_ingest_catches_a_misspelled_target_early(mlw, churn_project):
    result = mlw("ingest", "-c", churn_project, "--set", "data.target=churn")
    assert result.exit_code == 3
    assert "Did you mean 'churned'?" in result.stderr
    assert not list((churn_project.parent / "artifacts" / "churn" / "ingest").glob("2*"))


@pytest.mark.parametrize("case,label,task,message", [
    ("all null target", [None] * 40, "auto", "is empty in all 40 rows"),
    ("single class", ["a"] * 40, "auto", "has a single class ('a')"),
    ("regression on text", ["a", "b"] * 20, "regression", "the target 'label' is not numeric"),
], ids=lambda c: c if isinstance(c, str) else None)
def test_prepare_bad_targets(mlw, tmp_path, case, label, task, message):
    frame = pd.DataFrame({"x": np.arange(40.0), "label": label})
    if case == "all null target":
        frame["label"] = pd.Series([np.nan] * 40, dtype=object)
    config = _project(tmp_path, frame, data={"target": "label"}, train={"task": task})
    assert mlw("ingest", "-c", config).exit_code == 0
    result = mlw("prepare", "-c", config)
    assert result.exit_code == 3, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_prepare_class_with_one_row_explains_stratification(mlw, tmp_path):
    frame = pd.DataFrame({"x": np.arange(41.0), "label": ["a", "b"] * 20 + ["c"]})
    config = _project(tmp_path, frame, data={"target": "label"})
    mlw("ingest", "-c", config)
    result = mlw("prepare", "-c", config)
    assert result.exit_code == 3
    assert "Class 'c' of 'label' has only 1 row" in result.stderr
    assert "prepare.split.method=random" in result.stderr


def test_prepare_option_for_wrong_kind_is_config_error(mlw, churn_project):
    mlw("ingest", "-c", churn_project)
    result = mlw("prepare", "-c", churn_project, "--set", "prepare.columns={tenure_months: {encode: onehot}}")
    assert result.exit_code == 2
    assert "`prepare.columns.tenure_months.encode` does not apply: 'tenure_months' is a numeric column" in result.stderr


def test_prepare_without_ingest_is_artifact_error(mlw, churn_project):
    result = mlw("prepare", "-c", churn_project)
    assert result.exit_code == 4
    assert "There are no 'ingest' artifacts" in result.stderr
    assert "mlw ingest" in result.stderr


def test_prepare_unknown_from_version(mlw, churn_project):
    mlw("ingest", "-c", churn_project)
    result = mlw("prepare", "-c", churn_project, "--from", "19990101-000000-00000")
    assert result.exit_code == 4
    assert "No 'ingest' version '19990101-000000-00000'" in result.stderr


def test_prepare_refuses_tampered_ingest(mlw, churn_project):
    version = mlw("ingest", "-c", churn_project, "--json").json()["version"]
    data = churn_project.parent / "artifacts" / "churn" / "ingest" / version / "data.parquet"
    blob = bytearray(data.read_bytes())
    blob[100] ^= 0xFF
    data.write_bytes(bytes(blob))
    result = mlw("prepare", "-c", churn_project)
    assert result.exit_code == 4
    assert f"ingest/{version} failed its integrity check" in result.stderr
    assert "data.parquet does not match its sha256" in result.stderr
    assert not (churn_project.parent / "artifacts" / "churn" / "prepare").exists()


# ------------------------------------------------------------------ no needless copies of the training rows


def _numbers_pipeline(impute: str, scale: str = "standard"):
    from mlflow_cli.models.features import FeaturePlan, build_preprocessor

    options = {"impute": impute, "scale": scale}
    plan = FeaturePlan(kinds={"a": "numeric", "b": "numeric"}, options={"a": dict(options), "b": dict(options)})
    return build_preprocessor(plan, supervised=True, seed=0)


@pytest.mark.parametrize("impute", ["median", "none"])
def test_preprocessing_in_place_never_touches_the_callers_frame(impute):
    from sklearn.compose import ColumnTransformer

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(5, 2, 200), "b": rng.normal(-3, 9, 200)})
    frame.loc[::7, "a"] = np.nan if impute != "none" else frame.loc[::7, "a"]
    before = frame.copy()
    pipeline = _numbers_pipeline(impute)
    out = pipeline.fit_transform(frame)
    pd.testing.assert_frame_equal(frame, before)
    again = pipeline.transform(frame)
    pd.testing.assert_frame_equal(frame, before)
    np.testing.assert_array_equal(out, again)
    # Same numbers as scikit-learn's own ColumnTransformer with copying steps.
    plain = pipeline.named_steps["features"]
    reference = ColumnTransformer([(n, t, c) for n, t, c in plain.transformers], remainder="drop")
    for _, step, _ in reference.transformers:
        for _, part in getattr(step, "steps", []):
            if hasattr(part, "copy"):
                part.set_params(copy=True)
    expected = reference.fit_transform(frame)
    np.testing.assert_allclose(again, expected)
    assert not np.isnan(again).any() or impute == "none"


def test_preprocessing_makes_no_full_size_copies_of_float_columns():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"a": rng.normal(size=100), "b": rng.normal(size=100), "other": ["x"] * 100})
    pipeline = _numbers_pipeline("median").fit(frame)
    coerced = pipeline.named_steps["coerce"].transform(frame)
    assert list(coerced.columns) == ["a", "b"]
    assert np.shares_memory(coerced["a"].to_numpy(), frame["a"].to_numpy())
    # One dense branch: the ColumnTransformer returns the scaler's (in-place) output, not a stacked copy.
    features = pipeline.named_steps["features"]
    branch = features.transformers_[0][1]
    imputed = branch.steps[0][1].transform(coerced)
    assert branch.steps[1][1].copy is False
    out = features.transform(coerced)
    assert out.shape == (100, 2)
    assert features._hstack([out], n_samples=100) is out
    assert features._hstack([out, out], n_samples=100).shape == (100, 4)
    # Strings still go through coercion (a new frame), and text values are parsed.
    texts = frame.assign(a=frame["a"].astype(str))
    coerced = pipeline.named_steps["coerce"].transform(texts)
    assert coerced["a"].dtype == np.float64
    np.testing.assert_allclose(coerced["a"], frame["a"])
    assert imputed.shape == (100, 2)
