"""`mlw serve` end to end: the real server as a subprocess, real HTTP with httpx.

The expected predictions come from the model's own pipeline (model.joblib loaded here),
so every protocol is checked for exact agreement with the model, not just for shape.
"""

from __future__ import annotations

import json
import random
import re
import socket
import threading
import time

import httpx
import joblib
import numpy as np
import pandas as pd
import pytest

from mlflow_cli.serve.metrics import ServeMetrics
from mlflow_cli.serve.model import ServedModel
from mlflow_cli.serve.page import render_page
from mlflow_cli.data.validation.frame import validate_frame

from ..conftest import DATA
from .conftest import Project, Server, free_port, mlw_cli, start_server

ROWS = 20


# --------------------------------------------------------------------------- helpers


def _schema(project: Project, version: str) -> dict:
    manifest = json.loads((project.store / "train" / version / "manifest.json").read_text())
    prepare = next(i["version"] for i in manifest["inputs"] if i["stage"] == "prepare")
    return json.loads((project.store / "prepare" / prepare / "schema.json").read_text())


def _model(project: Project, version: str):
    return joblib.load(project.store / "train" / version / "model.joblib")


@pytest.fixture(scope="module")
def sample(trained: Project) -> pd.DataFrame:
    """ROWS records from the source that pass the schema, as a client would send them."""
    frame = pd.read_csv(DATA / "churn.csv").drop(columns=["churned"])
    schema = _schema(trained, trained.first)
    features = frame[list(schema["columns"])]
    ok = ~validate_frame(features, schema, allow_extra=False).bad_rows
    return frame[ok].head(ROWS).reset_index(drop=True)


@pytest.fixture(scope="module")
def expected(trained: Project, sample: pd.DataFrame) -> tuple[list, np.ndarray]:
    model = _model(trained, trained.first)
    return model.predict(sample).tolist(), model.predict_proba(sample)


def _records(frame: pd.DataFrame) -> list[dict]:
    return json.loads(frame.to_json(orient="records"))


def _good(sample: pd.DataFrame, n: int = 1) -> list[dict]:
    return _records(sample.head(n))


def _v2_inputs(frame: pd.DataFrame) -> list[dict]:
    inputs = []
    for name in frame.columns:
        column = frame[name]
        datatype = "INT64" if pd.api.types.is_integer_dtype(column) else (
            "FP64" if pd.api.types.is_float_dtype(column) else "BYTES")
        data = [None if pd.isna(v) else (v.item() if hasattr(v, "item") else v) for v in column]
        inputs.append({"name": name, "shape": [len(frame)], "datatype": datatype, "data": data})
    return inputs


# --------------------------------------------------------------------------- protocols


def test_serve_predict_records_match_the_model(server: Server, sample, expected):
    labels, proba = expected
    with server.client() as client:
        response = client.post("/predict", json=_records(sample), headers={"X-Request-ID": "req-1"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"model_version", "alias", "request_id", "predictions", "classes", "probabilities"}
    assert body["model_version"] == server.project.first and body["alias"] == "production"
    assert body["request_id"] == "req-1" and response.headers["x-request-id"] == "req-1"
    assert body["predictions"] == labels
    assert body["classes"] == ["no", "yes"]
    got = np.array([[row["no"], row["yes"]] for row in body["probabilities"]])
    np.testing.assert_allclose(got, proba, rtol=0, atol=1e-12)


def test_serve_predict_split_and_single_record(server: Server, sample, expected):
    labels, proba = expected
    split = json.loads(sample.to_json(orient="split", index=False))
    with server.client() as client:
        by_split = client.post("/predict", json={"columns": split["columns"], "data": split["data"]})
        single = client.post("/predict", json=_good(sample)[0])
    assert by_split.status_code == 200 and by_split.json()["predictions"] == labels
    assert single.status_code == 200 and single.json()["predictions"] == labels[:1]
    assert single.json()["probabilities"][0]["yes"] == pytest.approx(proba[0, 1], abs=1e-12)


def test_serve_invocations_speaks_mlflow(server: Server, sample, expected):
    labels, _ = expected
    records = _records(sample)
    split = json.loads(sample.to_json(orient="split", index=False))
    columns = {name: [r[name] for r in records] for name in sample.columns}
    bodies = [{"dataframe_split": split}, {"dataframe_records": records}, {"instances": records},
              {"inputs": records}, {"inputs": columns}, {"dataframe_records": records, "params": {}}]
    with server.client() as client:
        for body in bodies:
            response = client.post("/invocations", json=body)
            assert response.status_code == 200, (list(body), response.text)
            assert response.json() == {"predictions": labels}
        csv = client.post("/invocations", content=sample.to_csv(index=False),
                          headers={"Content-Type": "text/csv; charset=utf-8"})
        assert csv.status_code == 200 and csv.json() == {"predictions": labels}
        for bad, status, start in [
            ({"records": records}, 400, "The input must be a JSON dictionary with exactly one of the input fields"),
            ({"dataframe_split": split, "inputs": records}, 400, "The input must be a JSON dictionary"),
            (records, 400, "The input must be a JSON dictionary"),
        ]:
            response = client.post("/invocations", json=bad)
            assert response.status_code == status
            assert response.json()["error_code"] == "BAD_REQUEST"
            assert response.json()["message"].startswith(start)
        wrong_type = client.post("/invocations", content=b"{}", headers={"Content-Type": "text/plain"})
        assert wrong_type.status_code == 415 and wrong_type.json()["error_code"] == "BAD_REQUEST"
        invalid = client.post("/invocations", json={"dataframe_records": [{**records[0], "region": "mars"}]})
        assert invalid.status_code == 400
        assert invalid.json()["detail"] == [
            {"row": 0, "field": "region", "error": "unseen category 'mars' (known: central, coastal, east, "
                                                   "islands, north, overseas, south, west)"}]


def test_serve_open_inference_protocol(server: Server, sample, expected):
    labels, proba = expected
    name = "churn"
    with server.client() as client:
        assert client.get("/v2/health/live").json() == {"live": True}
        assert client.get("/v2/health/ready").json() == {"ready": True}
        metadata = client.get(f"/v2/models/{name}").json()
        assert metadata["name"] == name and metadata["versions"] == [server.project.first]
        assert metadata["platform"] == "mlw-sklearn"
        assert {i["name"]: i["datatype"] for i in metadata["inputs"]} == {
            "signup_date": "BYTES", "plan": "BYTES", "region": "BYTES", "tenure_months": "INT64",
            "monthly_charges": "FP64", "total_charges": "FP64", "support_calls": "INT64", "autopay": "BOOL",
            "last_ticket": "BYTES"}
        assert all(i["shape"] == [-1] for i in metadata["inputs"])
        assert metadata["outputs"] == [{"name": "predict", "datatype": "BYTES", "shape": [-1]},
                                       {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 2]}]
        response = client.post(f"/v2/models/{name}/infer", json={"id": "abc", "inputs": _v2_inputs(sample)})
        assert response.status_code == 200, response.text
        body = response.json()
        assert {k: body[k] for k in ("model_name", "model_version", "id")} == {
            "model_name": name, "model_version": server.project.first, "id": "abc"}
        predict, probabilities = body["outputs"]
        assert predict == {"name": "predict", "shape": [ROWS], "datatype": "BYTES", "data": labels}
        assert probabilities["name"] == "predict_proba" and probabilities["shape"] == [ROWS, 2]
        assert probabilities["datatype"] == "FP64"
        np.testing.assert_allclose(np.array(probabilities["data"]).reshape(ROWS, 2), proba, atol=1e-12)
        # shape [n, 1] with nested data, and only the requested output
        nested = [{**i, "shape": [ROWS, 1], "data": [[v] for v in i["data"]]} for i in _v2_inputs(sample)]
        only = client.post(f"/v2/models/{name}/infer", json={"inputs": nested, "outputs": [{"name": "predict"}]})
        assert [o["name"] for o in only.json()["outputs"]] == ["predict"]
        assert only.json()["outputs"][0]["data"] == labels
        unknown = client.post("/v2/models/iris/infer", json={"inputs": _v2_inputs(sample)})
        assert unknown.status_code == 404 and "Unknown model 'iris'" in unknown.json()["error"]
        assert client.get("/v2/models/iris").status_code == 404
        mismatch = [{**i, "shape": [ROWS + 1]} for i in _v2_inputs(sample)]
        bad = client.post(f"/v2/models/{name}/infer", json={"inputs": mismatch})
        assert bad.status_code == 400 and "says 21 values, but \"data\" holds 20" in bad.json()["error"]
        typed = _v2_inputs(sample.head(1))
        typed[3] = {**typed[3], "datatype": "FP64", "data": ["many"]}
        wrong = client.post(f"/v2/models/{name}/infer", json={"inputs": typed})
        assert wrong.status_code == 400 and "declared FP64" in wrong.json()["error"]


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("change,issues", [
    ({"plan": "gold"}, [(0, "plan", "unseen category 'gold' (known: basic, premium, standard)")]),
    ({"tenure_months": "many"}, [(0, "tenure_months", "expected a number, got 'many'")]),
    ({"tenure_months": None}, [(0, "tenure_months", "missing value; this column had no missing values in "
                                                    "training")]),
    ({"region": None, "support_calls": "x"},
     [(0, "region", "missing value; this column had no missing values in training"),
      (0, "support_calls", "expected a number, got 'x'")]),
    ({"autopay": "maybe"}, [(0, "autopay", "expected true/false or yes/no, got 'maybe'")]),
    ({"signup_date": "last tuesday"}, [(0, "signup_date", "expected a date or time (ISO 8601), got 'last tuesday'")]),
    ({"plan": ["basic"]}, [(0, "plan", "expected a single value, got a list")]),
])
def test_serve_predict_rejects_bad_fields_with_422(server: Server, sample, change, issues):
    record = {**_good(sample)[0], **change}
    with server.client() as client:
        response = client.post("/predict", json=[record])
    assert response.status_code == 422
    assert [(i["row"], i["field"], i["error"]) for i in response.json()["detail"]] == issues


def test_serve_predict_names_each_bad_row(server: Server, sample):
    records = _good(sample, 4)
    records[1]["plan"] = "gold"
    records[3]["total_charges"] = "lots"
    with server.client() as client:
        response = client.post("/predict", json=records)
    assert response.status_code == 422
    assert [(i["row"], i["field"]) for i in response.json()["detail"]] == [(1, "plan"), (3, "total_charges")]


def test_serve_predict_unknown_and_missing_columns(server: Server, sample):
    record = {**_good(sample)[0], "colour": "red"}
    del record["region"]
    with server.client() as client:
        response = client.post("/predict", json=[record])
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"row": None, "field": "region", "error": "missing column (the model needs it)"},
        {"row": None, "field": "colour", "error": "unknown column (the model was not trained with it)"}]


def test_serve_predict_nan_where_not_nullable(server: Server, sample):
    body = json.dumps([{**_good(sample)[0], "tenure_months": float("nan")}])  # Python writes NaN
    assert "NaN" in body
    with server.client() as client:
        response = client.post("/predict", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "tenure_months"
    assert response.json()["detail"][0]["error"].startswith("missing value")


def test_serve_predict_malformed_bodies(server: Server):
    with server.client() as client:
        for body, message in [(b"{not json", "The body is not valid JSON"),
                              (b"", "The request body is empty"),
                              (b"42", "The body must be a list of records"),
                              (b"[1, 2]", "The body must be a list of records (JSON objects); item 0 is a number"),
                              (b'{"columns": ["plan"], "data": [["a", "b"]]}', "The body: row 0 of \"data\""),
                              (b"[" * 100_000, "The body is not")]:
            response = client.post("/predict", content=body, headers={"Content-Type": "application/json"})
            assert response.status_code == 400, body[:40]
            assert response.json()["detail"].startswith(message), response.text
        empty = client.post("/predict", json=[])
        assert empty.status_code == 422 and empty.json()["detail"][0]["error"] == "no records to score"
        for csv in (b"\xff\xfe\x00\x01bad", b'plan,region\n"basic,north\n'):
            response = client.post("/invocations", content=csv, headers={"Content-Type": "text/csv"})
            assert response.status_code == 400 and response.json()["error_code"] == "BAD_REQUEST"
            assert response.json()["message"].startswith("Failed to parse input as a Pandas DataFrame")
        broken = client.post("/invocations", content=b'{"inputs": [', headers={"Content-Type": "application/json"})
        assert broken.status_code == 400 and broken.json()["error_code"] == "BAD_REQUEST"


def test_serve_body_over_the_limit_is_413(server: Server, sample):
    with server.client(timeout=60) as client:
        big = client.post("/predict", content=b"x" * (50 * 1024 * 1024), headers={"Content-Type": "application/json"})
        assert big.status_code == 413
        assert big.json()["detail"].startswith("The request body (52,428,800 bytes) is larger than "
                                               "serve.max_body_mb (1 MB)")

        def chunks():  # no Content-Length: the limit is enforced while reading
            for _ in range(40):
                yield b" " * 65536

        streamed = client.post("/invocations", content=chunks(), headers={"Content-Type": "application/json"})
        assert streamed.status_code == 413 and streamed.json()["error_code"] == "BAD_REQUEST"
        assert client.post("/predict", json=_good(sample)).status_code == 200  # the server is fine


def test_serve_random_bytes_never_cause_a_server_error(trained: Project, sample):
    rng = random.Random(1234)
    targets = [("/predict", "application/json"), ("/invocations", "application/json"),
               ("/invocations", "text/csv"), ("/v2/models/churn/infer", "application/json")]
    statuses = []
    server = start_server(trained)
    with server.client() as client:
        for _ in range(1000):
            path, content_type = rng.choice(targets)
            body = rng.randbytes(rng.randint(0, 400))
            statuses.append(client.post(path, content=body, headers={"Content-Type": content_type}).status_code)
        # structured garbage: valid JSON of the wrong shapes and types
        columns = list(_good(sample)[0]) + ["extra", ""]
        values = [None, True, 0, -1, 2 ** 70, 1e308, "NaN", "", "basic", [1], {"a": 1}, "2024-02-30", float("nan")]
        for _ in range(200):
            record = {rng.choice(columns): rng.choice(values) for _ in range(rng.randint(0, 12))}
            base = {**_good(sample)[0], **record} if rng.random() < 0.5 else record
            statuses.append(client.post("/predict", content=json.dumps([base]),
                                        headers={"Content-Type": "application/json"}).status_code)
        assert client.get("/health").status_code == 200
    code, log = server.stop()
    assert code == 0
    assert all(400 <= s < 500 for s in statuses[:1000]), sorted(set(statuses[:1000]))
    assert all(s == 200 or 400 <= s < 500 for s in statuses), sorted(set(statuses))
    # Every refusal was a reasoned 4xx, not the catch-all that turns an unexpected exception into a 422.
    assert "failed while scoring" not in log, log[-3000:]


# --------------------------------------------------------------------------- status endpoints


def test_serve_metadata_health_and_page(server: Server, trained: Project):
    with server.client() as client:
        cors = client.get("/health", headers={"Origin": "http://app.example"})
        assert "access-control-allow-origin" not in cors.headers  # CORS is off unless configured
        health = client.get("/health").json()
        metadata = client.get("/metadata").json()
        page = client.get("/")
        docs = client.get("/docs")
        openapi = client.get("/openapi.json").json()
    assert health == {"status": "ok", "model_version": trained.first, "alias": "production"}
    assert metadata["name"] == "churn" and metadata["version"] == trained.first
    assert metadata["alias"] == "production" and metadata["task"] == "classification"
    assert metadata["classes"] == ["no", "yes"] and metadata["model"] == "logistic_regression"
    assert metadata["inputs"] == _schema(trained, trained.first)["columns"]
    assert metadata["training_data"].startswith("prepare/")
    assert set(metadata["evaluation"]["metrics"]) >= {"accuracy", "f1", "roc_auc"}
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    for column in metadata["inputs"]:
        assert f'id="field-{column}"' in html
    assert '<select id="field-region"' in html and '<option value="north">north</option>' in html
    assert '<input type="number" step="1" id="field-tenure_months"' in html
    assert 'id="predict"' in html and 'id="result"' in html
    assert "http://" not in html and "https://" not in html and "src=" not in html  # self-contained
    assert docs.status_code == 200
    record = openapi["components"]["schemas"]["ChurnRecord"]
    assert set(record["required"]) == set(metadata["inputs"])
    assert record["properties"]["region"]["enum"] == _schema(trained, trained.first)["columns"]["region"][
        "categories"]
    example = record["examples"][0]
    assert example["plan"] == "basic" and example["tenure_months"] == 24
    predict_body = openapi["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert predict_body["examples"]["records"]["value"] == [example]


def test_serve_example_record_from_the_docs_is_accepted(server: Server):
    with server.client() as client:
        example = client.get("/openapi.json").json()["components"]["schemas"]["ChurnRecord"]["examples"][0]
        assert client.post("/predict", json=[example]).status_code == 200


def test_serve_metrics_count_requests_and_predictions(trained: Project, project_copy: Project, sample):
    running = start_server(project_copy)
    try:
        with running.client() as client:
            for _ in range(3):
                assert client.post("/predict", json=_good(sample, 4)).status_code == 200
            assert client.post("/predict", json=[{"plan": "x"}]).status_code == 422
            text = client.get("/metrics").text
    finally:
        running.stop()
    labels = _model(trained, trained.first).predict(sample.head(4)).tolist()
    assert 'mlw_requests_total{endpoint="/predict",status="200"} 3.0' in text
    assert 'mlw_requests_total{endpoint="/predict",status="422"} 1.0' in text
    assert 'mlw_request_duration_seconds_count{endpoint="/predict"} 4.0' in text
    assert 'mlw_rows_predicted_total{endpoint="/predict"} 12.0' in text
    assert re.search(r"^mlw_prediction_log_pending_rows \d+\.0$", text, re.M)
    for label in set(labels):
        assert f'mlw_predictions_total{{class="{label}"}} {3.0 * labels.count(label)}' in text
    assert f'mlw_model_info{{alias="production",model="logistic_regression",project="churn",task="classification",' \
           f'version="{trained.first}"}} 1.0' in text


# --------------------------------------------------------------------------- settings


def test_serve_bearer_token_and_unseen_categories_allowed(project_copy: Project, sample):
    env = {"MLW_TEST_TOKEN": "s3cret-token"}
    running = start_server(project_copy, "--set", "serve.token_env=MLW_TEST_TOKEN",
                           "--set", "serve.unseen_categories=allow",
                           "--set", "serve.cors_origins=[http://app.example]", env=env)
    try:
        record = {**_good(sample)[0], "plan": "gold"}
        with httpx.Client(base_url=running.url, timeout=30) as client:
            assert client.post("/predict", json=[record]).status_code == 401
            wrong = client.post("/predict", json=[record], headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
            assert client.post("/invocations", json={"inputs": [record]}).json()["error_code"] == "BAD_REQUEST"
            assert client.get("/metadata").status_code == 401
            assert client.get("/health").status_code == 200
            assert client.get("/v2/health/ready").status_code == 200
            ok = client.post("/predict", json=[record], headers={"Authorization": "Bearer s3cret-token"})
            assert ok.status_code == 200  # and the unseen category 'gold' is allowed here
            assert ok.json()["predictions"] == _model(project_copy, project_copy.first).predict(
                pd.DataFrame([record])).tolist()
            preflight = client.options("/predict", headers={
                "Origin": "http://app.example", "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type"})
            assert preflight.status_code == 200
            assert preflight.headers["access-control-allow-origin"] == "http://app.example"
            other = client.get("/health", headers={"Origin": "http://evil.example"})
            assert "access-control-allow-origin" not in other.headers
    finally:
        running.stop()
    missing = mlw_cli("serve", "-c", project_copy.config, "--port", free_port(),
                      "--set", "serve.token_env=MLW_UNSET_TOKEN_VAR")
    assert missing.exit_code == 2
    assert "`serve.token_env` names the environment variable MLW_UNSET_TOKEN_VAR, which is not set" in missing.stderr


def test_serve_refuses_a_tampered_model(project_copy: Project):
    model = project_copy.store / "train" / project_copy.first / "model.joblib"
    model.write_bytes(model.read_bytes() + b"x")
    done = mlw_cli("serve", "-c", project_copy.config, "--port", free_port(), timeout=60)
    assert done.exit_code == 4
    assert f"train/{project_copy.first} failed its integrity check" in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_refuses_unknown_alias_and_a_foreign_version(project_copy: Project):
    unknown = mlw_cli("serve", "-c", project_copy.config, "--port", free_port(), "--model", "staging", timeout=60)
    assert unknown.exit_code == 4 and "No model holds the alias 'staging'" in unknown.stderr
    registry_path = project_copy.store / "registry.json"
    registry = json.loads(registry_path.read_text())
    registry["aliases"]["production"].update(version="20200101-000000-000abc", project="iris")
    registry_path.write_text(json.dumps(registry))
    foreign = mlw_cli("serve", "-c", project_copy.config, "--port", free_port(), timeout=60)
    assert foreign.exit_code == 4
    assert "Alias 'production' points at train version '20200101-000000-000abc', which project 'churn' does not " \
           "have" in foreign.stderr


def test_serve_refuses_a_port_in_use(trained: Project):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = mlw_cli("serve", "-c", trained.config, "--port", port, timeout=60)
    assert done.exit_code == 2
    assert f"Port {port} on 127.0.0.1 is already in use" in done.stderr


# --------------------------------------------------------------------------- log, shutdown, reload


def test_serve_prediction_log_survives_sigterm_under_load(project_copy: Project, sample):
    running = start_server(project_copy)
    answered: list[int] = []  # rows of each 200 answer
    stop = threading.Event()

    def client_loop(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=running.url, timeout=30) as client:
            while not stop.is_set():
                n = rng.randint(1, 5)
                try:
                    response = client.post("/predict", json=_good(sample, n))
                except httpx.TransportError:
                    return  # the server is going away
                if response.status_code == 200:
                    answered.append(n)

    threads = [threading.Thread(target=client_loop, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while len(answered) < 50 and time.monotonic() < deadline:
        time.sleep(0.05)
    code, stderr = running.stop()
    stop.set()
    for thread in threads:
        thread.join(30)
    assert code == 0, stderr
    assert len(answered) >= 50
    lines = project_copy.prediction_lines()
    assert len(lines) == sum(answered)
    first = lines[0]
    assert set(first) == {"ts", "request_id", "row", "model_version", "alias", "endpoint", "latency_ms", "inputs",
                          "prediction", "probabilities"}
    assert first["model_version"] == project_copy.first and first["alias"] == "production"
    assert first["endpoint"] == "/predict" and first["latency_ms"] > 0
    assert first["inputs"] == _good(sample)[0] and first["row"] == 0
    assert first["prediction"] in ("no", "yes")
    assert set(first["probabilities"]) == {"no", "yes"}
    assert sum(first["probabilities"].values()) == pytest.approx(1)
    names = [p.name for p in (project_copy.store / "predictions").iterdir()]
    assert all(n.startswith("predictions-") and n.endswith(".jsonl") for n in names)


def test_serve_prediction_log_rotates_by_size(project_copy: Project, sample):
    running = start_server(project_copy, "--set", "serve.log_max_mb=0.01")
    try:
        with running.client() as client:
            for _ in range(20):
                assert client.post("/predict", json=_good(sample, 5)).status_code == 200
    finally:
        code, _ = running.stop()
    assert code == 0
    files = sorted((project_copy.store / "predictions").glob("predictions-*.jsonl"))
    assert len(files) > 1
    assert all(f.stat().st_size <= 0.01 * 1024 * 1024 for f in files[:-1])
    assert len(project_copy.prediction_lines()) == 100
    times = [line["ts"] for line in project_copy.prediction_lines()]
    assert times == sorted(times)  # file names sort in time


def _client_loop(running: Server, records: list[dict], seen: list, stop: threading.Event):
    """A client that posts `records` until `stop`, appending (status, model_version, predictions)."""
    def loop() -> None:
        with httpx.Client(base_url=running.url, timeout=30) as client:
            while not stop.is_set():
                try:
                    response = client.post("/predict", json=records)
                    body = response.json() if response.status_code == 200 else {}
                    seen.append((response.status_code, body.get("model_version"), body.get("predictions")))
                except httpx.HTTPError as exc:
                    seen.append((0, repr(exc), []))
    return loop


def test_serve_follows_promote_and_rollback_without_failures(project_copy: Project, sample):
    trained_second = mlw_cli("train", "-c", project_copy.config, "--set", "train.model=random_forest",
                             "--set", "train.params.n_estimators=20")
    assert trained_second.exit_code == 0, trained_second.stderr
    second = json.loads(mlw_cli("runs", "list", "-c", project_copy.config, "--json").stdout)[0]["version"]
    assert second != project_copy.first
    running = start_server(project_copy, "--set", "serve.reload_interval_s=0.2")
    seen: list[tuple[int, str | None, list]] = []
    stop = threading.Event()
    records = _good(sample, 5)
    client_loop = _client_loop(running, records, seen, stop)

    def wait_for(version: str) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if seen and seen[-1][1] == version:
                return
            time.sleep(0.05)
        raise AssertionError(f"the server did not switch to {version}; last answers: {seen[-3:]}")

    thread = threading.Thread(target=client_loop)
    thread.start()
    try:
        wait_for(project_copy.first)
        assert mlw_cli("models", "promote", second, "-c", project_copy.config).exit_code == 0
        wait_for(second)
        assert mlw_cli("models", "rollback", "production", "-c", project_copy.config).exit_code == 0
        wait_for(project_copy.first)
    finally:
        stop.set()
        thread.join(30)
        code, stderr = running.stop()
    assert code == 0
    assert [s for s in seen if s[0] != 200] == []
    versions = [s[1] for s in seen]
    switches = [v for i, v in enumerate(versions) if i == 0 or v != versions[i - 1]]
    assert switches == [project_copy.first, second, project_copy.first]
    expected_second = _model(project_copy, second).predict(pd.DataFrame(records)).tolist()
    assert all(s[2] == expected_second for s in seen if s[1] == second)
    assert f"now serving {second}" in stderr


def test_serve_switches_to_the_model_mlw_retrain_promotes_under_load(project_copy: Project, sample):
    """Eight clients keep sending requests while `mlw retrain` trains a challenger, judges it
    better than the served (deliberately weak) champion and promotes it: every request is
    answered, and the server switches to the challenger by hot reload."""
    config = project_copy.config
    logistic = ("--set", "train.model=logistic_regression")
    assert mlw_cli("train", "-c", config, *logistic, "--set", "train.params.C=0.000001").exit_code == 0
    weak = json.loads(mlw_cli("runs", "list", "-c", config, "--json").stdout)[0]["version"]
    assert mlw_cli("models", "promote", weak, "-c", config).exit_code == 0
    running = start_server(project_copy, "--set", "serve.reload_interval_s=0.2")
    seen: list[tuple[int, str | None, list]] = []
    stop = threading.Event()
    records = _good(sample, 5)
    threads = [threading.Thread(target=_client_loop(running, records, seen, stop)) for _ in range(8)]
    for thread in threads:
        thread.start()
    try:
        retrained = mlw_cli("retrain", "-c", config, "--json", *logistic)
        assert retrained.exit_code == 0, retrained.stderr
        decision = json.loads(retrained.stdout)
        challenger = decision["decision"]["challenger"]["version"]
        assert decision["action"] == "promoted" and decision["decision"]["champion"]["version"] == weak
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (seen and seen[-1][1] == challenger):
            time.sleep(0.05)
        answered = len(seen)
        time.sleep(0.5)  # and the clients go on being answered by the new model
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        code, stderr = running.stop()
    assert code == 0 and len(seen) > answered
    assert [s for s in seen if s[0] != 200] == []
    assert {s[1] for s in seen} == {weak, challenger} and seen[-1][1] == challenger
    expected = _model(project_copy, challenger).predict(pd.DataFrame(records)).tolist()
    assert all(s[2] == expected for s in seen if s[1] == challenger)
    assert f"now serving {challenger}" in stderr


def test_serve_keeps_the_old_model_when_the_new_one_fails_verification(project_copy: Project, sample):
    running = start_server(project_copy, "--set", "serve.reload_interval_s=0.2")
    try:
        done = mlw_cli("train", "-c", project_copy.config, "--force", "--set", "train.model=logistic_regression",
                       "--set", "train.params.C=0.5")
        assert done.exit_code == 0, done.stderr
        second = json.loads(mlw_cli("runs", "list", "-c", project_copy.config, "--json").stdout)[0]["version"]
        model = project_copy.store / "train" / second / "model.joblib"
        model.write_bytes(model.read_bytes() + b"x")
        # `mlw models promote` refuses a tampered version, so move the alias by hand (atomically)
        registry = project_copy.registry()
        registry["aliases"]["production"]["version"] = second
        staged = project_copy.store / ".registry-test.json"
        staged.write_text(json.dumps(registry))
        staged.replace(project_copy.store / "registry.json")
        time.sleep(1.0)
        with running.client() as client:
            for _ in range(5):
                response = client.post("/predict", json=_good(sample))
                assert response.status_code == 200
                assert response.json()["model_version"] == project_copy.first
    finally:
        code, stderr = running.stop()
    assert code == 0
    assert f"Alias 'production' now points at {second}, which cannot be served" in stderr


def test_serve_with_two_workers(project_copy: Project, sample, expected):
    running = start_server(project_copy, "--workers", "2")
    try:
        with running.client() as client:
            for _ in range(10):
                response = client.post("/predict", json=_records(sample))
                assert response.status_code == 200 and response.json()["predictions"] == expected[0]
    finally:
        code, stderr = running.stop()
    assert code == 0, stderr
    assert len(project_copy.prediction_lines()) == 10 * ROWS


# --------------------------------------------------------------------------- units


def _stub(schema: dict, task: str = "regression") -> ServedModel:
    from types import SimpleNamespace

    from mlflow_cli.models.scoring.model import ScoringModel

    scoring = ScoringModel(SimpleNamespace(ref="train/v1"), schema, task)
    return ServedModel(project="p", version="v1", alias=None, scoring=scoring)


def test_serve_metrics_summarise_regression_values():
    metrics = ServeMetrics()
    metrics.observe_predictions(_stub({"columns": {}}), "/predict", np.array([1.0, 3.0, np.nan]))
    text = metrics.render().decode()
    assert "mlw_predicted_value_count 2.0" in text and "mlw_predicted_value_sum 4.0" in text
    assert "mlw_predicted_value_min 1.0" in text and "mlw_predicted_value_max 3.0" in text
    assert 'mlw_rows_predicted_total{endpoint="/predict"} 3.0' in text


def test_serve_page_escapes_schema_text():
    schema = {"columns": {"a<b>": {"kind": "categorical", "categories": ["</script><i>x"], "nullable": True},
                          "n": {"kind": "numeric", "dtype": "float64", "min": 0.0, "max": 1.0, "nullable": False}}}
    html = render_page(_stub(schema, "classification"))
    assert "</script><i>" not in html and "<b>" not in html
    assert 'id="field-a&lt;b&gt;"' in html and "&lt;/script&gt;&lt;i&gt;x" in html
    assert 'value="0.5" required' in html
