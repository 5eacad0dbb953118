"""`mlw predict`: batch scoring to CSV, Parquet or a versioned artifact; predictions equal the
saved model's; schema validation with row numbers; --rejects; chunking; SQL sources;
regression and clustering models; every failure's exit code and message.

Each model is trained once per module (through the real `mlw`); each test works in its own copy.
"""

from __future__ import annotations

import json
import shutil
from contextlib import contextmanager
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from mlflow_cli.core.config import load_config
from mlflow_cli.stages.predict.stage import run_predict
from mlflow_cli.core.store import sha256_file

from ..conftest import DATA, write_config
from .conftest import built_once, private_copies, run_cli

FAST = {"churn": "logistic_regression", "diabetes": "linear_regression", "clusters": "kmeans"}
PROJECTS = {
    "churn": (["churn.csv", "churn_new.csv", "churn.db"],
              {"data": {"source": {"path": "data/churn.csv"}, "target": "churned", "id_columns": ["customer_id"]}}),
    "diabetes": (["diabetes.csv"], {"data": {"source": {"path": "data/diabetes.csv"}, "target": "progression"},
                                    "train": {"task": "regression"}}),
    "clusters": (["iris.csv"], {"data": {"source": {"path": "data/iris.csv"}, "target": "species"},
                                "train": {"task": "clustering", "params": {"n_clusters": 3}}}),
}
PROBA = ["proba_no", "proba_yes"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """name -> a folder with data/, mlw.yaml and a store whose `production` model is trained (made once)."""

    def build(name: str, folder: Path) -> None:
        files, config = PROJECTS[name]
        (folder / "data").mkdir()
        for file in files:
            shutil.copy(DATA / file, folder / "data" / file)
        path = write_config(folder, {"project": name, **config})
        for args in (["run", "--until", "train", "--set", f"train.model={FAST[name]}"],
                     ["models", "promote", "latest"]):
            code, _, err = run_cli(*args, "-c", path)
            assert code == 0, err

    return built_once(tmp_path_factory, build)


@pytest.fixture
def project(trained, tmp_path):
    """project("churn") -> the config path of a private copy of a trained project."""
    return private_copies(trained, tmp_path)


def _model_dir(folder: Path, project: str = "churn") -> Path:
    registry = json.loads((folder / "artifacts" / project / "registry.json").read_text())
    return folder / "artifacts" / project / "train" / registry["aliases"]["production"]["version"]


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)


def _with_edits(folder: Path, edits: dict[int, dict[str, str]], name: str = "edited.csv") -> Path:
    """churn_new.csv with some fields replaced; `edits` maps 1-based data row -> {column: text}."""
    frame = pd.read_csv(folder / "data" / "churn_new.csv", dtype=str, keep_default_na=False)
    for row, fields in edits.items():
        for column, text in fields.items():
            frame.loc[row - 1, column] = text
    path = folder / name
    frame.to_csv(path, index=False)
    return path


def _versions(folder: Path) -> list[str]:
    """Published predict versions; also checks that no temporary folder was left behind."""
    stage = folder / "artifacts" / "churn" / "predict"
    names = sorted(p.name for p in stage.iterdir()) if stage.is_dir() else []
    assert not [n for n in names if n.startswith(".tmp-")]
    return [n for n in names if (stage / n).is_dir()]


# --------------------------------------------------------------------------- output


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_predict_output_matches_the_model(mlw, project, suffix):
    config = project("churn")
    folder = config.parent
    new, out = folder / "data" / "churn_new.csv", folder / f"scored{suffix}"
    result = mlw("predict", "-c", config, "--input", new, "--output", out)
    assert result.exit_code == 0, result.stderr
    scored, source = _read(out), pd.read_csv(new)
    assert len(scored) == len(source) == 500
    assert list(scored.columns) == [*source.columns, "prediction", *PROBA]
    assert scored["customer_id"].tolist() == source["customer_id"].tolist()
    model = joblib.load(_model_dir(folder) / "model.joblib")
    assert scored["prediction"].tolist() == model.predict(source).tolist()
    assert set(scored["prediction"]) == {"no", "yes"}
    np.testing.assert_allclose(scored[PROBA].to_numpy(), model.predict_proba(source), rtol=1e-12)
    np.testing.assert_allclose(scored[PROBA].sum(axis=1), 1.0)
    assert result.stdout.startswith(f"Scored 500 of 500 rows of churn_new.csv with train/{_model_dir(folder).name} "
                                    f"(production), logistic_regression (classification). Written to {out} in ")
    assert "first 5 predictions" in result.stdout and "C00046" in result.stdout
    assert _versions(folder) == []  # --output writes the file, not a version
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []


def test_predict_json_output_describes_the_run(mlw, project):
    config = project("churn")
    folder = config.parent
    out = folder / "out" / "scored.parquet"  # a missing folder is created
    result = mlw("predict", "-c", config, "--input", folder / "data" / "churn_new.csv", "--output", out, "--json")
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert (doc["stage"], doc["version"], doc["cached"], doc["output"]) == ("predict", "", False, str(out))
    info = doc["info"]
    assert (info["rows_in"], info["rows_scored"], info["rows_rejected"]) == (500, 500, 0)
    assert (info["model"], info["alias"], info["task"]) == (f"train/{_model_dir(folder).name}", "production",
                                                            "classification")
    assert info["preview"]["columns"] == ["row", "customer_id", "prediction", *PROBA]
    assert [r[:2] for r in info["preview"]["rows"]][:2] == [[1, "C00046"], [2, "C00061"]]
    assert doc["inputs"][0]["stage"] == "train" and doc["inputs"][1]["source"]["type"] == "csv"


def test_predict_versioned_artifact_is_cached_until_forced(mlw, project):
    config = project("churn")
    folder = config.parent
    new = folder / "data" / "churn_new.csv"
    first = mlw("predict", "-c", config, "--input", new, "--json")
    assert first.exit_code == 0, first.stderr
    doc = first.json()
    assert not doc["cached"] and _versions(folder) == [doc["version"]]
    assert doc["output"] == str(folder / "artifacts" / "churn" / "predict" / doc["version"] / "predictions.parquet")
    assert len(pd.read_parquet(doc["output"])) == 500
    manifest = json.loads((Path(doc["path"]) / "manifest.json").read_text())
    assert list(manifest["outputs"]) == ["predictions.parquet"]
    model, source = manifest["inputs"]
    assert (model["stage"], model["version"]) == ("train", _model_dir(folder).name)
    assert source["external"] and source["source"]["files"][0]["sha256"] == sha256_file(new)
    assert manifest["info"]["rows_scored"] == 500 and manifest["info"]["output"] == "predictions.parquet"

    again = mlw("predict", "-c", config, "--input", new, "--json").json()
    assert again["cached"] and again["version"] == doc["version"]
    human = mlw("predict", "-c", config, "--input", new)
    assert f"cached: predict/{doc['version']} already holds these predictions" in human.stderr
    renamed = folder / "same_bytes.csv"
    shutil.copy(new, renamed)
    assert mlw("predict", "-c", config, "--input", renamed, "--json").json()["version"] == doc["version"]

    forced = mlw("predict", "-c", config, "--input", new, "--force", "--json").json()
    assert not forced["cached"] and forced["version"] != doc["version"]
    new.write_text("".join(new.read_text().splitlines(keepends=True)[:-1]))  # one row fewer
    changed = mlw("predict", "-c", config, "--input", new, "--json").json()
    assert not changed["cached"] and changed["info"]["rows_in"] == 499
    assert mlw("artifacts", "verify", "-c", config).exit_code == 0


# --------------------------------------------------------------------------- validation


BAD_ROWS = [
    ({3: {"region": "mars"}}, [], "row 3, column 'region': unseen category 'mars' (known: central, coastal, east, "
                                  "islands, north, overseas, south, west)"),
    ({5: {"tenure_months": "abc"}}, [], "row 5, column 'tenure_months': expected a number, got 'abc'"),
    ({7: {"signup_date": "2024-13-45"}}, [], "row 7, column 'signup_date': expected a date or time (ISO 8601), "
                                             "got '2024-13-45'"),
    ({250: {"tenure_months": "abc"}}, ["--set", "predict.chunk_rows=100"],
     "row 250, column 'tenure_months': expected a number, got 'abc'"),
]


@pytest.mark.parametrize("edits,extra,message", BAD_ROWS)
@pytest.mark.parametrize("to_file", [True, False])
def test_predict_bad_row_fails_naming_row_and_field(mlw, project, edits, extra, message, to_file):
    config = project("churn")
    folder = config.parent
    bad = _with_edits(folder, edits)
    out = folder / "scored.csv"
    out.write_text("previous results\n")
    args = ["--output", out] if to_file else []
    result = mlw("predict", "-c", config, "--input", bad, *args, *extra)
    assert result.exit_code == 3, result.stderr
    assert f"Error: edited.csv has rows that model train/{_model_dir(folder).name} cannot score: {message}." \
           in result.stderr
    assert "pass --rejects FILE to write the bad rows there and score the rest" in result.stderr
    assert out.read_text() == "previous results\n"  # untouched: the run wrote nothing
    assert _versions(folder) == [] and [p.name for p in folder.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_predict_rejects_hold_exactly_the_bad_rows(mlw, project, suffix):
    config = project("churn")
    folder = config.parent
    bad = _with_edits(folder, {3: {"region": "mars"}, 5: {"tenure_months": "abc"},
                               7: {"signup_date": "2024-13-45", "plan": "gold"}})
    out, rejects = folder / "scored.parquet", folder / f"rejects{suffix}"
    result = mlw("predict", "-c", config, "--input", bad, "--output", out, "--rejects", rejects, "--json")
    assert result.exit_code == 0, result.stderr
    info = result.json()["info"]
    assert (info["rows_in"], info["rows_scored"], info["rows_rejected"]) == (500, 497, 3)
    source = pd.read_csv(folder / "data" / "churn_new.csv")
    rejected = _read(rejects)
    assert list(rejected.columns) == [*source.columns, "_row", "_errors"]
    assert rejected["_row"].tolist() == [3, 5, 7]
    assert rejected["customer_id"].tolist() == source["customer_id"].iloc[[2, 4, 6]].tolist()
    assert rejected["_errors"].tolist() == [
        "region: unseen category 'mars' (known: central, coastal, east, islands, north, overseas, south, west)",
        "tenure_months: expected a number, got 'abc'",
        "signup_date: expected a date or time (ISO 8601), got '2024-13-45'; "
        "plan: unseen category 'gold' (known: basic, premium, standard)"]
    scored = pd.read_parquet(out)
    assert scored["customer_id"].tolist() == source["customer_id"].drop(index=[2, 4, 6]).tolist()
    assert scored["prediction"].notna().all()
    human = mlw("predict", "-c", config, "--input", bad, "--output", out, "--rejects", rejects)
    assert "Scored 497 of 500 rows of edited.csv" in human.stdout and f"3 rejected -> {rejects}" in human.stdout


def test_predict_rejects_name_every_problem_of_many_bad_rows(mlw, project):
    """More bad rows than validate_frame lists issues for in one call: each still gets its reasons."""
    config = project("churn")
    folder = config.parent
    edits = {row: {"region": "mars"} for row in range(1, 301, 2)}
    for row in range(1, 301, 3):
        edits.setdefault(row, {})["tenure_months"] = "abc"
    bad = _with_edits(folder, edits)
    rejects = folder / "rejects.csv"
    result = mlw("predict", "-c", config, "--input", bad, "--output", folder / "s.csv", "--rejects", rejects,
                 "--set", "predict.chunk_rows=250")
    assert result.exit_code == 0, result.stderr
    rejected = pd.read_csv(rejects)
    assert rejected["_row"].tolist() == sorted(edits)
    for row, errors in zip(rejected["_row"], rejected["_errors"]):
        expected = [f"{c}: " for c in ("region", "tenure_months") if c in edits[row]]
        assert [part.split(": ")[0] + ": " for part in errors.split("; ")] == expected, (row, errors)


def test_predict_rejects_reuse_cache_only_while_the_file_is_intact(mlw, project):
    config = project("churn")
    folder = config.parent
    bad = _with_edits(folder, {3: {"region": "mars"}})
    rejects = folder / "rejects.csv"
    first = mlw("predict", "-c", config, "--input", bad, "--rejects", rejects, "--json").json()
    assert first["info"]["rows_rejected"] == 1 and first["info"]["rejects"]["path"] == str(rejects)
    assert mlw("predict", "-c", config, "--input", bad, "--rejects", rejects, "--json").json()["cached"]
    rejects.unlink()
    again = mlw("predict", "-c", config, "--input", bad, "--rejects", rejects, "--json").json()
    assert not again["cached"] and len(pd.read_csv(rejects)) == 1


# --------------------------------------------------------------------------- failures


FAILURES = [
    (["--input", "data/nope.csv"], 3, "Input file 'data/nope.csv' does not exist."),
    (["--input", "data/churn_new.csv", "--output", "scored.json"], 2,
     "--output must end in .csv, .parquet or .pq. Got 'scored.json'."),
    (["--input", "data/churn_new.csv", "--rejects", "rejects.txt"], 2,
     "--rejects must end in .csv, .parquet or .pq. Got 'rejects.txt'."),
    (["--input", "data/churn_new.csv", "--output", "data/churn_new.csv"], 2, "--input and --output name the same file"),
    (["--input", "data/churn_new.csv", "--model", "staging"], 4, "No model holds the alias 'staging'"),
    (["--input", "data/churn_new.csv", "--model", "19990101"], 4, "No 'train' version '19990101'"),
]


@pytest.mark.parametrize("args,code,message", FAILURES)
def test_predict_failures_exit_with_their_code(mlw, project, args, code, message):
    config = project("churn")
    result = mlw("predict", "-c", config, *args, cwd=config.parent)
    assert result.exit_code == code, result.stderr
    assert message in result.stderr
    assert _versions(config.parent) == []


def test_predict_missing_column_exits_3(mlw, project):
    config = project("churn")
    folder = config.parent
    frame = pd.read_csv(folder / "data" / "churn_new.csv").drop(columns=["tenure_months", "autopay"])
    frame.to_csv(folder / "short.csv", index=False)
    result = mlw("predict", "-c", config, "--input", folder / "short.csv")
    assert result.exit_code == 3, result.stderr
    assert f"short.csv lacks columns 'tenure_months', 'autopay', which model train/{_model_dir(folder).name} " \
           f"needs." in result.stderr
    assert _versions(folder) == []


def test_predict_refuses_a_tampered_model(mlw, project):
    config = project("churn")
    model = _model_dir(config.parent) / "model.joblib"
    model.write_bytes(model.read_bytes() + b"x")
    result = mlw("predict", "-c", config, "--input", config.parent / "data" / "churn_new.csv")
    assert result.exit_code == 4, result.stderr
    assert f"train/{model.parent.name} failed its integrity check" in result.stderr


# --------------------------------------------------------------------------- chunks, sources, tasks


def test_predict_in_chunks_equals_one_chunk(mlw, project):
    config = project("churn")
    folder = config.parent
    new = folder / "data" / "churn_new.csv"
    whole, chunked = folder / "whole.parquet", folder / "chunked.parquet"
    assert mlw("predict", "-c", config, "--input", new, "--output", whole).exit_code == 0
    result = mlw("predict", "-c", config, "--input", new, "--output", chunked, "--set", "predict.chunk_rows=100",
                 "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["info"]["chunks"] == 5
    pd.testing.assert_frame_equal(pd.read_parquet(chunked), pd.read_parquet(whole))


def test_predict_progress_advances_per_chunk(project):
    config = project("churn")
    new = config.parent / "data" / "churn_new.csv"
    bars = []

    class Bar:
        def __init__(self) -> None:
            self.steps: list[float] = []

        def advance(self, amount: float) -> None:
            self.steps.append(amount)

    @contextmanager
    def progress(description, total, unit="items"):
        bars.append((description, total, unit, Bar()))
        yield bars[-1][3]

    cfg = load_config(config, ["predict.chunk_rows=150"])
    run_predict(cfg, input_path=new, output=config.parent / "s.csv", progress=progress)
    [(description, total, unit, bar)] = bars
    assert (description, total, unit) == ("Scoring churn_new.csv", new.stat().st_size, "bytes")
    assert len(bar.steps) == 4 and sum(bar.steps) == pytest.approx(total)


def test_predict_scores_a_sql_source_when_input_is_omitted(mlw, project):
    config = project("churn")
    folder = config.parent
    sql = write_config(folder, {"project": "churn", "data": {
        "source": {"url": "sqlite:///data/churn.db", "query": "SELECT * FROM customers ORDER BY customer_id LIMIT 300"},
        "target": "churned", "id_columns": ["customer_id"]}}, name="sql.yaml")
    out = folder / "scored.csv"
    result = mlw("predict", "-c", sql, "--output", out, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["inputs"][1]["source"]["type"] == "sql"
    scored = pd.read_csv(out)
    assert len(scored) == 300 and set(scored["prediction"]) <= {"no", "yes"}
    np.testing.assert_allclose(scored[PROBA].sum(axis=1), 1.0)
    versions = [mlw("predict", "-c", sql, "--json").json() for _ in range(2)]
    assert not any(v["cached"] for v in versions)  # a database is read again every time


def test_predict_regression_model(mlw, project):
    config = project("diabetes")
    folder = config.parent
    out = folder / "scored.parquet"
    result = mlw("predict", "-c", config, "--input", folder / "data" / "diabetes.csv", "--output", out)
    assert result.exit_code == 0, result.stderr
    scored, source = pd.read_parquet(out), pd.read_csv(folder / "data" / "diabetes.csv")
    assert list(scored.columns) == [*source.columns, "prediction"]
    model = joblib.load(_model_dir(folder, "diabetes") / "model.joblib")
    np.testing.assert_allclose(scored["prediction"], model.predict(source))


def test_predict_clustering_model_labels_clusters(mlw, project):
    config = project("clusters")
    folder = config.parent
    out = folder / "scored.csv"
    result = mlw("predict", "-c", config, "--set", "predict.model=latest", "--output", out)  # data.source
    assert result.exit_code == 0, result.stderr
    scored, source = pd.read_csv(out), pd.read_csv(folder / "data" / "iris.csv")
    assert list(scored.columns) == [*source.columns, "prediction"]
    model = joblib.load(_model_dir(folder, "clusters") / "model.joblib")
    assert scored["prediction"].tolist() == model.predict(source).tolist()
    assert set(scored["prediction"]) == {0, 1, 2}


def test_predict_streams_a_large_csv_whose_types_change_further_down(mlw, project):
    """Above ingest.stream_above_mb the CSV is read block by block; text in a number column
    after the first block restarts the read with the column as text, and the row is rejected."""
    config = project("churn")
    folder = config.parent
    frame = pd.read_csv(folder / "data" / "churn_new.csv", dtype=str, keep_default_na=False)
    big = pd.concat([frame] * 40, ignore_index=True)
    big.loc[19_990, "tenure_months"] = "abc"
    big.to_csv(folder / "big.csv", index=False)
    assert (folder / "big.csv").stat().st_size > 1 << 20
    outputs = []
    for stream in ([], ["--set", "ingest.stream_above_mb=0", "--set", "ingest.block_size_mb=1"]):
        out, rejects = folder / f"scored{len(stream)}.parquet", folder / f"rejects{len(stream)}.csv"
        result = mlw("predict", "-c", config, "--input", folder / "big.csv", "--output", out, "--rejects", rejects,
                     "--set", "predict.chunk_rows=3000", *stream)
        assert result.exit_code == 0, result.stderr
        assert pd.read_csv(rejects)["_row"].tolist() == [19_991]
        outputs.append(pd.read_parquet(out))
    assert len(outputs[1]) == 19_999
    pd.testing.assert_frame_equal(outputs[0], outputs[1])


def test_predict_rescoring_scored_parquet_replaces_its_predictions(mlw, project):
    config = project("churn")
    folder = config.parent
    first, second = folder / "first.parquet", folder / "second.parquet"
    assert mlw("predict", "-c", config, "--input", folder / "data" / "churn_new.csv", "--output", first).exit_code == 0
    result = mlw("predict", "-c", config, "--input", first, "--output", second)
    assert result.exit_code == 0, result.stderr
    assert "first.parquet already has columns prediction, proba_no, proba_yes; the output holds the new " \
           "predictions instead." in result.stderr
    pd.testing.assert_frame_equal(pd.read_parquet(second), pd.read_parquet(first))


def test_predict_all_rows_rejected_or_none_at_all(mlw, project):
    config = project("churn")
    folder = config.parent
    frame = pd.read_csv(folder / "data" / "churn_new.csv")
    frame.assign(region="mars").to_csv(folder / "all_bad.csv", index=False)
    out = folder / "scored.csv"
    result = mlw("predict", "-c", config, "--input", folder / "all_bad.csv", "--output", out,
                 "--rejects", folder / "rejects.csv")
    assert result.exit_code == 0, result.stderr
    assert "Scored 0 of 500 rows" in result.stdout
    assert out.read_text().splitlines() == [",".join(f'"{c}"' for c in [*frame.columns, "prediction", *PROBA])]
    assert len(pd.read_csv(folder / "rejects.csv")) == 500
    frame.head(0).to_csv(folder / "empty.csv", index=False)
    empty = mlw("predict", "-c", config, "--input", folder / "empty.csv")
    assert empty.exit_code == 3 and "empty.csv has no data rows to score." in empty.stderr


def test_predict_unseen_categories_allow_scores_them(mlw, project):
    config = project("churn")
    folder = config.parent
    bad = _with_edits(folder, {3: {"region": "mars"}})
    result = mlw("predict", "-c", config, "--input", bad, "--output", folder / "s.csv", "--json",
                 "--set", "predict.unseen_categories=allow")
    assert result.exit_code == 0, result.stderr
    assert result.json()["info"]["rows_scored"] == 500


def test_predict_refuses_a_clustering_model_without_predict(mlw, project):
    config = project("clusters")
    assert mlw("train", "-c", config, "--set", "train.model=dbscan", "--set", "train.params={}").exit_code == 0
    result = mlw("predict", "-c", config, "--model", "latest", "--output", config.parent / "s.csv")
    assert result.exit_code == 4, result.stderr
    assert "(DBSCAN) cannot predict new rows, so it cannot score a batch." in result.stderr
    assert not (config.parent / "s.csv").exists()


def test_predict_names_a_row_holding_a_list_instead_of_a_value(mlw, project):
    config = project("churn")
    folder = config.parent
    frame = pd.read_csv(DATA / "churn_new.csv").head(20)
    frame["plan"] = [[plan, "premium"] for plan in frame["plan"]]  # a list column, as Parquet allows
    frame.to_parquet(folder / "nested.parquet")
    result = mlw("predict", "-c", config, "--input", folder / "nested.parquet")
    assert result.exit_code == 3, result.stderr
    assert "row 1, column 'plan': expected a single value, got a list" in result.stderr
    assert "Traceback" not in result.stderr and "bug in mlw" not in result.stderr


def test_each_part_is_scored_without_shared_state(mlw, project, monkeypatch, tmp_path):
    """engine/: the part function must not depend on what ran before it, so an engine may score
    parts in any order (or elsewhere). Scored last-to-first, then written in order, the output,
    the rejects and every count are those of the in-order run."""
    from mlflow_cli.engine.local import LocalEngine

    config = project("churn")
    folder = config.parent
    bad = _with_edits(folder, {3: {"plan": "platinum"}, 250: {"monthly_charges": "lots"}})
    args = ("predict", "-c", config, "--input", bad, "--set", "predict.chunk_rows=100", "--json")
    first = mlw(*args, "--output", tmp_path / "a.parquet", "--rejects", tmp_path / "a.csv")
    assert first.exit_code == 0, first.stderr

    monkeypatch.setattr(LocalEngine, "map_parts", lambda self, function, parts: iter(
        list(reversed([function(part) for part in reversed(list(parts))]))))
    second = mlw(*args, "--output", tmp_path / "b.parquet", "--rejects", tmp_path / "b.csv")
    assert second.exit_code == 0, second.stderr
    assert pd.read_parquet(tmp_path / "a.parquet").equals(pd.read_parquet(tmp_path / "b.parquet"))
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert pd.read_csv(tmp_path / "a.csv")["_row"].tolist() == [3, 250]
    keys = ("rows_in", "rows_scored", "rows_rejected", "chunks", "preview")
    assert {k: first.json()["info"][k] for k in keys} == {k: second.json()["info"][k] for k in keys}
    assert first.json()["info"]["chunks"] > 2
