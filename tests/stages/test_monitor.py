"""`mlw monitor` end to end, through the real command on the shipped churn data: the drifted batch
is caught (columns, target, predictions, the new category), undrifted rows are not; statistics
equal scipy's on the raw rows; gates and every bad input's exit code and message; ingest batches;
labels joined later; a model trained before references existed; the artifacts monitor writes.

The model is trained once per module; each test works in its own copy of the project.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mlflow_cli.models.reference import column_values

from ..conftest import DATA, promoted_churn_project
from .conftest import built_once, churn_store, private_copies, run_cli, run_json


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    def build(name: str, folder: Path) -> None:
        promoted_churn_project(folder)
        for file in ("churn_new.csv", "churn_drift.csv"):
            shutil.copy(DATA / file, folder / "data" / file)

    return built_once(tmp_path_factory, build)


@pytest.fixture
def project(trained, tmp_path):
    return private_copies(trained, tmp_path)("churn")


def monitor(config: Path, *args: str) -> tuple[int, dict | None, str]:
    return run_json("monitor", config, *args)


store = churn_store


def production(config: Path) -> Path:
    registry = json.loads((store(config) / "registry.json").read_text())
    return store(config) / "train" / registry["aliases"]["production"]["version"]


def training_rows(config: Path) -> pd.DataFrame:
    train = json.loads((production(config) / "manifest.json").read_text())
    prepare = next(i["version"] for i in train["inputs"] if i.get("stage") == "prepare")
    return pd.read_parquet(store(config) / "prepare" / prepare / "train.parquet")


# --------------------------------------------------------------------------- the shipped drifted batch


def test_monitor_catches_the_shipped_drifted_batch(project):
    code, out, err = monitor(project, "--input", project.parent / "data" / "churn_drift.csv")
    assert code == 0, err
    result = out["result"]
    assert result["verdict"] == "drift" and result["rows"] == 1000
    drift = result["drift"]
    assert {"tenure_months", "monthly_charges", "plan", "region", "signup_date"} <= set(drift["drifted"])
    assert drift["drift_share"] == pytest.approx(len(drift["drifted"]) / drift["compared"])
    assert drift["compared"] == 9 and drift["dataset_drift"] is True
    assert 0 <= drift["weighted_drift_share"] <= 1
    assert result["target_drift"]["verdict"] == "drift" and result["prediction_drift"]["verdict"] == "drift"
    # the new sign-up channel: counted and named
    raw = pd.read_csv(project.parent / "data" / "churn_drift.csv")
    region = result["quality"]["columns"]["region"]
    assert region["new_categories"] == {"online": int((raw["region"] == "online").sum())}
    assert result["quality"]["new_category_rows"] == int((raw["region"] == "online").sum())
    assert result["quality"]["missing_columns"] == 0 and result["quality"]["duplicate_ids"] == 0
    # labelled: the current rows hold the target; metrics equal scikit-learn's on the model's predictions
    import joblib
    from sklearn.metrics import accuracy_score, f1_score

    model = joblib.load(production(project) / "model.joblib")
    predicted = model.predict(raw.drop(columns=["churned"]))
    performance = result["performance"]
    assert performance["labelled_rows"] == 1000
    assert performance["metrics"]["accuracy"]["current"] == pytest.approx(accuracy_score(raw["churned"], predicted))
    assert performance["metrics"]["f1"]["current"] == pytest.approx(f1_score(raw["churned"], predicted,
                                                                              pos_label="yes"))
    evaluated = json.loads(next((store(project) / "evaluate").glob("*/metrics.json")).read_text())["test"]
    assert performance["metrics"]["accuracy"]["evaluation"] == pytest.approx(evaluated["accuracy"])
    assert performance["metrics"]["accuracy"]["drop"] == pytest.approx(evaluated["accuracy"] -
                                                                       accuracy_score(raw["churned"], predicted))
    assert set(performance["estimated"]) == {"accuracy", "precision", "recall", "f1"}
    # the human table names the drifted columns and the verdict
    code, text, _ = run_cli("monitor", "-c", project, "--input", project.parent / "data" / "churn_drift.csv")
    assert code == 0 and "Verdict: DRIFT" in text and "region" in text and "online" in text


def test_monitor_writes_a_versioned_artifact(project):
    before = {p.name: p.read_bytes() for p in production(project).iterdir()}
    code, out, err = monitor(project, "--input", project.parent / "data" / "churn_drift.csv")
    assert code == 0, err
    folder = Path(out["path"])
    assert folder.parent == store(project) / "monitor"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert {"monitor.json", "metrics.json", "report.html"} <= set(manifest["outputs"])
    assert {i["stage"] for i in manifest["inputs"] if "stage" in i} == {"train", "prepare"}
    source = next(i["source"] for i in manifest["inputs"] if i.get("external"))
    from mlflow_cli.core.store import sha256_file

    assert source["files"][0]["sha256"] == sha256_file(project.parent / "data" / "churn_drift.csv")
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["drift_share"] == out["result"]["drift"]["drift_share"]
    assert metrics["new_category_rows"] > 0 and "estimated_f1" in metrics and "accuracy" in metrics
    html = (folder / "report.html").read_text()
    assert "Data drift" in html and "Data quality" in html and "data:image/png;base64," in html
    # one panel per changed column, three to a row (4.2 x 3.3 inches at 100 dpi each); the predictions apart
    panels = len(out["result"]["drift"]["drifted"]) + len(out["result"]["drift"]["minor"])
    import struct

    width, height = struct.unpack(">II", (folder / "drift.png").read_bytes()[16:24])
    assert (width, height) == (1260, 330 * -(-panels // 3))
    assert struct.unpack(">II", (folder / "predictions.png").read_bytes()[16:24]) == (420, 330)
    assert html.count("data:image/png;base64,") == 2
    # the same data again: the version is reused; the model's own files were never touched
    code, again, _ = monitor(project, "--input", project.parent / "data" / "churn_drift.csv")
    assert code == 0 and again["cached"] and again["version"] == out["version"]
    assert {p.name: p.read_bytes() for p in production(project).iterdir()} == before


def test_monitor_statistics_equal_scipy_on_the_raw_rows(project):
    code, out, err = monitor(project, "--input", project.parent / "data" / "churn_drift.csv")
    assert code == 0, err
    reference = training_rows(project)
    current = pd.read_csv(project.parent / "data" / "churn_drift.csv")
    schema = json.loads((production(project).parent.parent / "prepare").glob("*/schema.json").__next__().read_text())
    checked = 0
    for name, entry in out["result"]["drift"]["columns"].items():
        kind = schema["columns"][name]["kind"]
        ref, now = column_values(reference[name], kind), column_values(current[name], kind)
        if entry["type"] == "numeric":
            ref, now = ref[~np.isnan(ref)], now[~np.isnan(now)]
            assert entry["statistic"] == pytest.approx(stats.ks_2samp(ref, now).statistic, abs=0.005), name
            w = stats.wasserstein_distance(ref, now) / ref.std()
            assert entry["effect"] == pytest.approx(w, rel=0.01), name
        else:
            ref_s, now_s = pd.Series(ref).dropna(), pd.Series(now).dropna()
            names = sorted(set(ref_s) | set(now_s))
            table = np.array([[int((ref_s == c).sum()) for c in names], [int((now_s == c).sum()) for c in names]])
            chi2, p = stats.chi2_contingency(table, correction=False)[:2]
            assert entry["statistic"] == pytest.approx(chi2, rel=1e-9) and entry["p_value"] == pytest.approx(p)
            from scipy.spatial.distance import jensenshannon

            shares = table / table.sum(axis=1, keepdims=True)
            assert entry["effect"] == pytest.approx(jensenshannon(shares[0], shares[1], base=2), rel=1e-9)
        checked += 1
    assert checked == 9


def test_monitor_raises_no_alarm_on_rows_like_the_training_rows(project, tmp_path):
    # the held-out test split: the same distribution as the training rows, never seen by the model
    train = json.loads((production(project) / "manifest.json").read_text())
    prepare = next(i["version"] for i in train["inputs"] if i.get("stage") == "prepare")
    test_rows = store(project) / "prepare" / prepare / "test.parquet"
    code, out, err = monitor(project, "--input", test_rows,
                             "--set", 'monitor.gates={drift_share: "<= 0.3", missing_columns: "== 0"}')
    assert code == 0, err
    result = out["result"]
    assert result["verdict"] == "no drift" and result["drift"]["drifted"] == []
    assert result["prediction_drift"]["verdict"] != "drift" and result["target_drift"]["verdict"] != "drift"
    assert all(g["passed"] for g in result["gates"])


# --------------------------------------------------------------------------- gates


def test_monitor_gates_fail_with_exit_1_naming_gate_threshold_and_value(project):
    code, out, err = run_cli("monitor", "-c", project)  # configs' monitor section: none here; set it
    assert code == 2 and "Nothing to monitor" in err
    code, _, err = run_cli("monitor", "-c", project, "--input", project.parent / "data" / "churn_drift.csv",
                           "--set", 'monitor.gates={drift_share: "<= 0.3", missing_columns: "== 0", '
                                    'f1: ">= 0.9", error_rate: "<= 0.01"}')
    assert code == 1
    assert "3 monitor gates failed" in err and "[drift_share]" in err and "required <= 0.3" in err
    assert "f1 = " in err and "error_rate could not be computed (it comes from the prediction log" in err
    assert "missing_columns" not in err.split("failed")[1]


def test_monitor_gate_errors_are_usage_errors(project):
    drifted = project.parent / "data" / "churn_drift.csv"
    code, _, err = run_cli("monitor", "-c", project, "--input", drifted, "--set",
                           'monitor.gates={drift_shar: "<= 0.3"}')
    assert code == 2 and "'drift_shar'" in err and "Did you mean 'drift_share'" in err
    code, _, err = run_cli("monitor", "-c", project, "--input", drifted, "--set", 'monitor.gates={f1: "high"}')
    assert code == 2 and "`monitor.gates.f1` must look like '>= 0.8'" in err


# --------------------------------------------------------------------------- bad input


def test_monitor_reports_a_missing_column_and_compares_the_rest(project, tmp_path):
    frame = pd.read_csv(project.parent / "data" / "churn_drift.csv").drop(columns=["plan"])
    frame["note"] = "x"
    frame.to_csv(tmp_path / "no_plan.csv", index=False)
    code, out, err = monitor(project, "--input", tmp_path / "no_plan.csv")
    assert code == 0, err
    quality = out["result"]["quality"]
    assert quality["missing"] == ["plan"] and quality["extra"] == ["note"]
    assert "plan" not in out["result"]["drift"]["columns"] and out["result"]["drift"]["compared"] == 8
    assert any("lacks 1 column(s) the model takes: plan" in w for w in out["warnings"])
    assert out["result"]["prediction_drift"] is None
    assert any("they lack plan" in n for n in out["result"]["notes"])
    code, _, err = run_cli("monitor", "-c", project, "--input", tmp_path / "no_plan.csv", "--set",
                           'monitor.gates={missing_columns: "== 0"}')
    assert code == 1 and "missing_columns = 1, required == 0" in err


@pytest.mark.parametrize(("content", "message"), [
    ("a,b\n1,2\n", "holds none of the columns"),
    ("customer_id,plan,region\n", "has no data rows"),
])
def test_monitor_exits_3_when_nothing_can_be_compared(project, tmp_path, content, message):
    (tmp_path / "odd.csv").write_text(content)
    code, _, err = run_cli("monitor", "-c", project, "--input", tmp_path / "odd.csv")
    assert code == 3 and message in err and "Traceback" not in err


def test_monitor_model_and_input_errors(project, tmp_path):
    drifted = project.parent / "data" / "churn_drift.csv"
    code, _, err = run_cli("monitor", "-c", project, "--input", drifted, "--model", "staging")
    assert code == 4 and "No model holds the alias 'staging'" in err
    code, _, err = run_cli("monitor", "-c", project, "--input", tmp_path / "nope.csv")
    assert code == 3 and "does not exist" in err
    code, _, err = run_cli("monitor", "-c", project, "--input", drifted, "--since", "24h")
    assert code == 2 and "add --log" in err
    code, _, err = run_cli("monitor", "-c", project, "--input", drifted, "--log")
    assert code == 2 and "--log and --input both name the current data" in err
    code, _, err = run_cli("monitor", "-c", project, "--log", "--since", "yesterday")
    assert code == 2 and "--since must be a duration such as 30m" in err


def test_monitor_refuses_a_tampered_reference(project):
    reference = production(project) / "reference.json"
    data = json.loads(reference.read_text())
    data["columns"]["tenure_months"]["mean"] = 99.0
    reference.write_text(json.dumps(data))
    code, _, err = run_cli("monitor", "-c", project, "--input", project.parent / "data" / "churn_drift.csv")
    assert code == 4 and "failed its integrity check" in err and "reference.json" in err


def test_monitor_of_a_model_without_a_reference_computes_it_from_the_training_rows(project):
    folder = production(project)
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["outputs"]["reference.json"]
    (folder / "reference.json").unlink()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    code, out, err = monitor(project, "--input", project.parent / "data" / "churn_drift.csv")
    assert code == 0, err
    assert out["result"]["verdict"] == "drift" and out["result"]["prediction_drift"] is None
    assert any("trained before mlw kept a reference" in w for w in out["warnings"])
    assert not (folder / "reference.json").exists()  # nothing written into the model's version


# --------------------------------------------------------------------------- batches and labels


def test_monitor_batch_reads_only_the_rows_an_append_added(project):
    code, _, err = run_cli("ingest", "-c", project, "--append", "--set", "data.source.path=data/churn_drift.csv")
    assert code == 0, err
    code, out, err = monitor(project, "--batch", "latest")
    assert code == 0, err
    result = out["result"]
    assert result["rows"] == 1000 and result["current"].endswith("(batch)")
    assert result["verdict"] == "drift"
    manifest = json.loads((Path(out["path"]) / "manifest.json").read_text())
    assert "ingest" in {i.get("stage") for i in manifest["inputs"]}


def test_monitor_joins_labels_that_arrive_later(project, tmp_path):
    raw = pd.read_csv(project.parent / "data" / "churn_drift.csv")
    raw.drop(columns=["churned"]).to_csv(tmp_path / "current.csv", index=False)
    labels = raw[["customer_id", "churned"]].iloc[:300]
    bogus = pd.DataFrame({"customer_id": [f"X{i}" for i in range(50)], "churned": "yes"})
    pd.concat([labels, bogus]).to_csv(tmp_path / "labels.csv", index=False)
    code, out, err = monitor(project, "--input", tmp_path / "current.csv",
                             "--set", f"monitor.labels={{path: {tmp_path / 'labels.csv'}}}")
    assert code == 0, err
    performance = out["result"]["performance"]
    assert performance["labelled_rows"] == 300
    assert performance["join"] == {"keys": ["customer_id"], "label_rows": 350, "joined": 300}
    assert out["result"]["target_drift"] is None
    # without labels: only the estimate, marked as such
    code, out, err = monitor(project, "--input", tmp_path / "current.csv")
    assert code == 0, err
    assert out["result"]["performance"]["metrics"] is None and out["result"]["performance"]["estimated"]
    # labels that join nothing say so
    labels.assign(customer_id="Z" + labels["customer_id"]).to_csv(tmp_path / "wrong.csv", index=False)
    code, out, err = monitor(project, "--input", tmp_path / "current.csv",
                             "--set", f"monitor.labels={{path: {tmp_path / 'wrong.csv'}}}")
    assert code == 0, err
    assert any("0 of 300 rows of monitor.labels matched on customer_id" in w for w in out["warnings"])


# --------------------------------------------------------------------------- the model in a second process


def _model_of(config: Path):
    from mlflow_cli.core.config import load_config
    from mlflow_cli.core.store import open_store
    from mlflow_cli.models.scoring.model import read_schema

    project_store = open_store(load_config(config))
    train = project_store.load("train", production(config).name)
    prepare = project_store.load("prepare", next(i["version"] for i in train.manifest["inputs"]
                                                 if i.get("stage") == "prepare"))
    return train, read_schema(prepare), train.manifest.get("task")


def _scored(model, frame, background: bool):
    from mlflow_cli.models.scoring.background import start_scorer

    scorer = start_scorer(background=background)
    try:
        scorer.load(*model)
        scorer.submit(frame)
        return scorer.result()
    finally:
        scorer.close()


def test_the_scoring_process_gives_the_scores_of_the_model_in_this_process(project, monkeypatch):
    from mlflow_cli.models.scoring import background as background_module
    from mlflow_cli.models.scoring.model import ScoringModel

    model = _model_of(project)
    frame = pd.read_csv(project.parent / "data" / "churn_drift.csv")[list(model[1]["columns"])]
    here, there = _scored(model, frame, background=False), _scored(model, frame, background=True)
    assert there.classes == here.classes == ["no", "yes"]
    assert there.predictions == here.predictions and len(there.predictions) == 1000
    assert np.array_equal(there.proba, here.proba)
    whole = ScoringModel(*model).score(frame)  # in one piece: what the pieces add up to
    assert here.predictions == list(whole.predictions) and np.allclose(here.proba, whole.proba, atol=1e-12)
    monkeypatch.setattr(background_module, "SCORE_ROWS", 300)  # 1,000 rows in four pieces
    pieces = _scored(model, frame, background=False)
    assert pieces.predictions == here.predictions and np.array_equal(pieces.proba, here.proba)


def test_the_scoring_process_raises_the_models_own_errors(project):
    from mlflow_cli.core.errors import ArtifactError
    from mlflow_cli.models.scoring.background import ScoringFailed, start_scorer

    model = _model_of(project)
    frame = pd.read_csv(project.parent / "data" / "churn_drift.csv")[list(model[1]["columns"])]
    with pytest.raises(ScoringFailed, match="KeyError|ValueError"):  # rows without the model's columns
        _scored(model, frame.drop(columns=["plan"]), background=True)
    path = production(project) / "model.joblib"
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    for background in (False, True):
        with pytest.raises(ArtifactError, match="model.joblib") as raised:
            _scored(model, frame, background)
        assert raised.value.hint  # the hint survives the trip between processes
    scorer = start_scorer(background=True)  # never used (a cached result): stopped at once, not left running
    scorer.close()
    assert scorer._process.returncode is not None


def test_monitor_run_as_a_command_scores_in_a_second_process(project):
    """A fresh `mlw` has not imported scikit-learn, so the model loads in the scoring process: the
    same result as the in-process run of the tests above."""
    from ..conftest import run_mlw

    code, here, err = monitor(project, "--input", project.parent / "data" / "churn_drift.csv")
    assert code == 0, err
    run = run_mlw("monitor", "-c", project, "--input", project.parent / "data" / "churn_drift.csv", "--json",
                  "--force")
    assert run.exit_code == 0, run.stderr
    there = run.json()["result"]
    assert there["scored_rows"] == here["result"]["scored_rows"] == 1000
    assert there["prediction_drift"] == here["result"]["prediction_drift"]
    assert there["performance"] == here["result"]["performance"]


# --------------------------------------------------------------------------- windows over time


def test_monitor_window_gives_one_verdict_per_window(project, tmp_path):
    """The undrifted new customers, then the drifted batch three months later: the windows over the drifted
    rows say drift, the earlier ones do not."""
    calm = pd.read_csv(project.parent / "data" / "churn_new.csv").assign(signup_date="2025-01-15")
    drifted = pd.read_csv(project.parent / "data" / "churn_drift.csv").assign(signup_date="2025-04-15")
    pd.concat([calm, drifted]).to_csv(tmp_path / "both.csv", index=False)
    args = ("--input", tmp_path / "both.csv", "--window", "30d", "--every", "30d",
            "--set", "data.time_column=signup_date")
    code, out, err = monitor(project, *args)
    assert code == 0, err
    windows = out["result"]["windows"]
    assert [w["rows"] for w in windows] == [len(calm), 0, 0, len(drifted)]
    assert [w["verdict"] for w in windows] == ["no drift", "no rows", "no rows", "drift"]
    assert windows[-1]["drift_share"] == out["result"]["drift"]["drift_share"] > windows[0]["drift_share"]
    assert out["result"]["rows"] == len(drifted)  # the rest of the result is the newest window's
    metrics = json.loads((Path(out["path"]) / "metrics.json").read_text())
    assert metrics["windows"] == 4 and metrics["drifted_windows"] == 1
    assert (Path(out["path"]) / "windows.png").stat().st_size > 1000
    assert "Over time" in (Path(out["path"]) / "report.html").read_text()
    code, shown, err = run_cli("monitor", "-c", project, *args)
    assert code == 0 and "one verdict per window" in " ".join((shown + err).split())


def _same_result(one: dict, other: dict) -> bool:
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in ("version", "path", "report", "cached")}
        return [strip(v) for v in value] if isinstance(value, list) else value
    return strip(one) == strip(other)


def test_monitor_reads_a_large_parquet_row_group_a_group_of_columns_at_a_time(project, tmp_path, monkeypatch):
    """Parquet decodes a row group whole; past GROUP_BYTES monitor reads the columns in groups,
    one pass each (the ids together, the time column in every group): the same result as one
    pass, the sample the model scores, its labels, duplicate ids and windows included."""
    import pyarrow.parquet as pq

    from mlflow_cli.stages.monitor import current as current_module
    from mlflow_cli.stages.monitor.current import Tally, column_groups

    calm = pd.read_csv(project.parent / "data" / "churn_new.csv").assign(signup_date="2025-01-15")
    drifted = pd.read_csv(project.parent / "data" / "churn_drift.csv").assign(signup_date="2025-04-15")
    rows = pd.concat([calm, drifted, drifted.iloc[:5]], ignore_index=True)  # five duplicated ids
    rows.to_parquet(tmp_path / "both.parquet", index=False)
    assert pq.ParquetFile(tmp_path / "both.parquet").metadata.num_row_groups == 1
    runs = {"plain": ("--input", tmp_path / "both.parquet", "--set", "monitor.score_rows=500"),
            "windows": ("--input", tmp_path / "both.parquet", "--window", "30d", "--every", "30d",
                        "--set", "data.time_column=signup_date")}
    whole = {name: monitor(project, *args) for name, args in runs.items()}
    wanted = [c for c in rows.columns if c != "customer_id"]
    assert column_groups(str(tmp_path / "both.parquet"), wanted, ["customer_id"], []) is None  # small: one pass
    groups, names = column_groups(str(tmp_path / "both.parquet"), wanted, ["customer_id"], ["signup_date"],
                                  budget=9000)
    assert names == list(rows.columns)
    assert len(groups) > 3 and groups[0][:2] == ["signup_date", "customer_id"]
    assert all(g[0] == "signup_date" for g in groups) and sorted(c for g in groups for c in g[1:]) == sorted(
        c for c in rows.columns if c != "signup_date")
    passes = []
    side_by_side = Tally.side_by_side.__func__
    monkeypatch.setattr(Tally, "side_by_side", classmethod(lambda cls, tallies, names: (
        passes.append(len(tallies)), side_by_side(cls, tallies, names))[1]))
    monkeypatch.setattr(current_module, "GROUP_BYTES", 9000)
    for name, args in runs.items():
        code, out, err = monitor(project, *args, "--force")
        assert code == whole[name][0] == 0, err
        assert out["cached"] is False and _same_result(out, whole[name][1]), name
    assert len(passes) >= 2 and min(passes) > 3  # each run (and each window) read in groups
    result = whole["plain"][1]["result"]
    assert result["quality"]["duplicate_ids"] == 5 and result["scored_rows"] == 500
    assert result["performance"]["labelled_rows"] == 500


def test_monitor_window_errors(project):
    code, _, err = run_cli("monitor", "-c", project, "--input", project.parent / "data" / "churn_drift.csv",
                           "--window", "7d")
    assert code == 2 and "--window needs times" in err and "data.time_column" in err
    code, _, err = run_cli("monitor", "-c", project, "--log", "--window", "soon")
    assert code == 2 and "--window must be a duration such as 30m" in err
    code, _, err = run_cli("monitor", "-c", project, "--log", "--every", "1d")
    assert code == 2 and "--every steps --window" in err
    code, _, err = run_cli("monitor", "-c", project, "--log", "--window", "1m", "--every", "1s", "--since", "30d")
    assert code == 2 and "more than 400 windows" in err
