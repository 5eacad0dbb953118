"""`mlw monitor --log` on a log the real `mlw serve` wrote in the test: the served rows' drift equals
the drift of the same rows read from their file; service health (requests, refusals by reason,
latency percentiles, rows per request, versions); time windows and versions; labels joined on
request_id and row; the refused requests' lines."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from ..conftest import DATA
from .conftest import mlw_cli, start_server

BATCH = 10


@pytest.fixture(scope="module")
def served(trained, tmp_path_factory):
    """A copy of the trained project whose server answered churn_drift.csv in requests of 10 rows,
    and refused four requests (two invalid records, a body that is not JSON, one too large)."""
    import shutil

    from .conftest import Project

    folder = tmp_path_factory.mktemp("monitor-log") / "project"
    shutil.copytree(trained.folder, folder, ignore=shutil.ignore_patterns("predictions"))
    project = Project(folder / "mlw.yaml", trained.first)
    frame = pd.read_csv(DATA / "churn_drift.csv")
    records = json.loads(frame.drop(columns=["churned"]).to_json(orient="records"))
    server = start_server(project, "--set", "serve.max_body_mb=0.01", "--set", "serve.unseen_categories=allow")
    request_ids = []
    try:
        with server.client() as client:
            for start in range(0, len(records), BATCH):
                answer = client.post("/predict", json=records[start:start + BATCH])
                assert answer.status_code == 200, answer.text
                request_ids.append(answer.headers["x-request-id"])
            assert client.post("/predict", json=[{"plan": "gold"}]).status_code == 422
            assert client.post("/predict", json=[{**records[0], "tenure_months": "long"}]).status_code == 422
            assert client.post("/predict", content=b"{not json", headers={"content-type": "application/json"}
                               ).status_code == 400
            assert client.post("/predict", json=records * 10).status_code == 413
    finally:
        code, stderr = server.stop()
    assert code == 0, stderr
    return project, frame, request_ids


def _monitor(project, *args):
    done = mlw_cli("monitor", "-c", project.config, "--json", *args)
    return done.exit_code, (json.loads(done.stdout) if done.stdout.strip() else None), done.stderr


def test_refused_requests_are_logged_with_their_reason(served):
    project, _, _ = served
    refused = [line for line in project.prediction_lines() if "status" in line]
    assert sorted((line["status"], line["error"]) for line in refused) == [
        (400, "bad_request"), (413, "body_too_large"), (422, "invalid_input"), (422, "invalid_input")]
    assert all("inputs" not in line and line["endpoint"] == "/predict" for line in refused)
    assert sorted(line["rows"] or 0 for line in refused if line["status"] == 422) == [1, 1]


def test_monitor_log_equals_monitor_of_the_same_rows_from_their_file(served):
    project, frame, _ = served
    code, logged, err = _monitor(project, "--log")
    assert code == 0, err
    code, filed, err = _monitor(project, "--input", DATA / "churn_drift.csv", "--set", "monitor.score_rows=1000")
    assert code == 0, err
    log, file = logged["result"], filed["result"]
    assert log["rows"] == len(frame) == file["rows"]
    assert log["current"] == "prediction log (all of it)"
    for name, entry in file["drift"]["columns"].items():
        assert log["drift"]["columns"][name]["statistic"] == pytest.approx(entry["statistic"], rel=1e-9), name
        assert log["drift"]["columns"][name]["verdict"] == entry["verdict"], name
    # the logged predictions are the model's: the same prediction drift as scoring the file
    assert log["prediction_drift"]["statistic"] == pytest.approx(file["prediction_drift"]["statistic"])
    assert log["performance"]["estimated"]["accuracy"]["current"] == pytest.approx(
        file["performance"]["estimated"]["accuracy"]["current"])
    assert log["performance"]["metrics"] is None  # no labels in the log


def test_monitor_log_reports_service_health(served):
    project, frame, _ = served
    code, out, err = _monitor(project, "--log")
    assert code == 0, err
    health = out["result"]["health"]
    answered = len(frame) // BATCH
    assert health["answered"] == answered and health["refused"] == 4 and health["requests"] == answered + 4
    assert health["error_rate"] == pytest.approx(4 / (answered + 4))
    assert health["errors"] == {"invalid_input": 2, "bad_request": 1, "body_too_large": 1}
    assert health["rows"] == len(frame) and health["rows_per_request"] == BATCH
    assert health["max_rows_per_request"] == BATCH
    latencies = [line["latency_ms"] for line in project.prediction_lines() if line.get("row") == 0]
    assert health["latency_p99_ms"] == pytest.approx(np.percentile(latencies, 99))
    assert health["latency_p50_ms"] == pytest.approx(np.percentile(latencies, 50))
    assert health["model_versions"] == {project.first: len(frame)}
    assert sum(hour["requests"] for hour in health["traffic"]) == answered + 4
    metrics = json.loads((project.folder / out["path"] / "metrics.json").read_text())
    assert metrics["error_rate"] == health["error_rate"] and metrics["requests"] == health["requests"]
    report = (project.folder / out["path"] / "report.html").read_text()
    assert "Service health" in report and "invalid_input" in report
    code, _, err = _monitor(project, "--log", "--set", 'monitor.gates={error_rate: "<= 0.01", '
                                                       'latency_p99_ms: "<= 100000"}')
    assert code == 1 and "error_rate = 0.03" in err and "latency_p99_ms" not in err.split("failed")[1]


def test_monitor_log_windows_and_versions(served):
    project, frame, _ = served
    code, _, err = _monitor(project, "--log", "--since", "2h", "--until", "2099-01-01")
    assert code == 0, err
    future = (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    code, _, err = _monitor(project, "--log", "--since", future)
    assert code == 3 and "has no predicted rows" in err and "--since" in err
    code, _, err = _monitor(project, "--log", "--until", "2001-01-01")
    assert code == 3 and "has no files in this window" in err
    code, _, err = _monitor(project, "--log", "--model-version", "20010101-000000-000000")
    assert code == 3 and "has no predicted rows" in err
    code, out, err = _monitor(project, "--log", "--model-version", project.first)
    assert code == 0 and out["result"]["rows"] == len(frame)


def test_monitor_log_joins_labels_on_request_id_and_row(served, tmp_path):
    project, frame, request_ids = served
    labels = pd.DataFrame({"request_id": np.repeat(request_ids, BATCH), "row": np.tile(np.arange(BATCH), len(request_ids)),
                           "churned": frame["churned"].to_numpy()})
    labels.iloc[:500].to_csv(tmp_path / "labels.csv", index=False)
    code, out, err = _monitor(project, "--log", "--set", f"monitor.labels={{path: {tmp_path / 'labels.csv'}}}")
    assert code == 0, err
    performance = out["result"]["performance"]
    assert performance["join"] == {"keys": ["request_id", "row"], "label_rows": 500, "joined": 500}
    assert performance["labelled_rows"] == 500
    from sklearn.metrics import accuracy_score

    lines = [line for line in project.prediction_lines() if "row" in line]
    predicted = {(line["request_id"], line["row"]): line["prediction"] for line in lines}
    expected = accuracy_score(labels["churned"].iloc[:500],
                              [predicted[(r, i)] for r, i in zip(labels["request_id"].iloc[:500],
                                                                 labels["row"].iloc[:500])])
    assert performance["metrics"]["accuracy"]["current"] == pytest.approx(expected)


def test_monitor_log_window_every_gives_one_verdict_per_window(served):
    """Over the served log: hourly windows over the last three hours; the served rows all fall in the
    newest one, whose health and rows the result carries."""
    project, frame, _ = served
    code, out, err = _monitor(project, "--log", "--since", "3h", "--window", "1h", "--every", "1h")
    assert code == 0, err
    windows = out["result"]["windows"]
    assert len(windows) == 3 and [w["verdict"] for w in windows[:2]] == ["no rows", "no rows"]
    assert windows[-1]["rows"] == out["result"]["rows"] == len(frame)
    assert windows[-1]["error_rate"] == out["result"]["health"]["error_rate"]
    assert out["result"]["health"]["requests"] > 0
