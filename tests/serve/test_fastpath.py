"""The pandas-free request path: requests whose JSON values certainly fit the schema are scored
from column lists (data/validation/fast.py: columns_certainly_valid + CompiledPreprocessor.transform_columns).
It must give exactly what the frame path gives, and hand everything doubtful to the frame path,
which names each bad field."""

from __future__ import annotations

import ctypes
import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from mlflow_cli.serve import requests, scoring
from mlflow_cli.serve.model import load_served_model
from mlflow_cli.core.store import Store
from mlflow_cli.data.validation.fast import columns_certainly_valid

from ..conftest import DATA

SCHEMA = {"columns": {
    "age": {"kind": "numeric", "nullable": False},
    "income": {"kind": "numeric", "nullable": True},
    "member": {"kind": "boolean", "nullable": True},
    "plan": {"kind": "categorical", "nullable": True, "categories": ["basic", "pro"]},
}}
GOOD = {"age": [30, 41.5], "income": [None, 5.0], "member": [True, None], "plan": ["pro", None]}
WORDS = {**GOOD, "member": ["Yes", "no"]}


def test_certainly_valid_accepts_well_typed_columns():
    assert columns_certainly_valid(GOOD, SCHEMA, "reject")
    assert columns_certainly_valid(WORDS, SCHEMA, "reject")


@pytest.mark.parametrize("change, unseen", [
    ({"extra": [1, 2]}, "reject"),                    # an unknown column
    ({"age": [True, 3]}, "reject"),                   # a boolean is not a number here
    ({"age": ["30", 3]}, "reject"),                   # a numeric string: the frame path decides
    ({"age": [None, 3]}, "reject"),                   # missing where training had none
    ({"age": [math.nan, 3]}, "reject"),               # NaN where training had none
    ({"member": [1, 0]}, "reject"),                   # 1/0 for a boolean: the frame path decides
    ({"member": ["yes", "maybe"]}, "reject"),         # not a boolean word
    ({"member": ["yes", True]}, "reject"),            # words and booleans mixed
    ({"plan": ["gold", "pro"]}, "reject"),            # an unseen category, rejected
    ({"plan": [3, "pro"]}, "allow"),                  # a number for a category
])
def test_certainly_valid_hands_doubtful_values_to_the_frame_path(change, unseen):
    assert not columns_certainly_valid({**GOOD, **change}, SCHEMA, unseen)


def test_certainly_valid_needs_every_column_and_no_dates():
    assert not columns_certainly_valid({k: v for k, v in GOOD.items() if k != "plan"}, SCHEMA, "reject")
    assert columns_certainly_valid({**GOOD, "plan": ["gold", "pro"]}, SCHEMA, "allow")
    dated = {"columns": {**SCHEMA["columns"], "day": {"kind": "datetime"}}}
    assert not columns_certainly_valid({**GOOD, "day": ["2024-01-01", None]}, dated, "reject")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A churn model without text and date columns, so its preprocessing compiles."""
    from typer.testing import CliRunner

    from mlflow_cli.cli import app

    folder = tmp_path_factory.mktemp("fastpath")
    frame = pd.read_csv(DATA / "churn.csv").drop(columns=["last_ticket", "signup_date"])
    frame.to_csv(folder / "churn.csv", index=False)
    config = folder / "mlw.yaml"
    config.write_text("project: churn\n"
                      "data: {source: {path: churn.csv}, target: churned, id_columns: [customer_id]}\n"
                      "train: {model: xgboost, params: {n_estimators: 30}}\n")
    result = CliRunner().invoke(app, ["run", "-c", str(config), "--until", "train"])
    assert result.exit_code == 0, result.output
    model = load_served_model(Store(folder / "artifacts", "churn"), "latest")
    assert model.compiled is not None
    new = pd.read_csv(DATA / "churn_new.csv").drop(columns=["last_ticket", "signup_date", "customer_id"])
    return model, new, config


def _rows(records: list[dict]) -> requests.Rows:
    return requests.parse_predict(json.dumps(records).encode())


def _records(frame: pd.DataFrame) -> list[dict]:
    return json.loads(frame.to_json(orient="records"))  # JSON-native values, missing as null


def test_fast_path_scores_exactly_as_the_frame_path(served, monkeypatch):
    model, new, _ = served
    records = _records(new.drop(columns=["churned"], errors="ignore").head(300))
    records = [r for r in records if all(v is not None or c in ("monthly_charges",) for c, v in r.items())]
    rows = _rows(records)
    assert rows.columns is not None
    expected = model.predict(rows.frame)

    def no_frame(*args, **kwargs):
        raise AssertionError("the frame path was taken")

    monkeypatch.setattr(scoring, "check_frame", no_frame)
    got = scoring.score_rows(model, _rows(records), "allow")
    assert list(got.predictions) == list(expected.predictions)
    np.testing.assert_allclose(got.proba, expected.proba, rtol=1e-12)
    # Large requests predict on every core (a twin of the estimator); same numbers.
    many = _rows(records * 10)
    assert many.n > 2000 and model.parallel.estimator.n_jobs == -1
    assert model.pipeline.steps[-1][1].estimator.n_jobs == 1  # small requests stay single-threaded
    np.testing.assert_allclose(scoring.score_rows(model, many, "allow").proba, np.tile(expected.proba, (10, 1)),
                               rtol=1e-12)


def test_doubtful_requests_get_the_frame_paths_issues(served, monkeypatch):
    model, new, _ = served
    records = _records(new.drop(columns=["churned"], errors="ignore").head(3))
    records[1]["tenure_months"] = "eleven"
    records[2]["plan"] = "platinum"
    with pytest.raises(scoring.InputError) as caught:
        scoring.score_rows(model, _rows(records), "reject")
    issues = {(issue["row"], issue["field"]) for issue in caught.value.issues}
    assert issues == {(1, "tenure_months"), (2, "plan")}
    # Unseen categories allowed: scored like the frame path scores them.
    records[1]["tenure_months"] = 11
    frame_scores = model.predict(_rows(records).frame)
    fast = scoring.score_rows(model, _rows(records), "allow")
    np.testing.assert_allclose(fast.proba, frame_scores.proba, rtol=1e-12)


def test_records_with_different_keys_take_the_frame_path(served):
    model, new, _ = served
    records = _records(new.drop(columns=["churned"], errors="ignore").head(2))
    del records[1]["plan"]
    rows = _rows(records)
    assert rows.columns is None and rows.n == 2
    assert list(rows.frame.columns) == list(records[0])
    assert rows.records()[1]["plan"] is None  # the log writes a missing key as null


def test_csv_bodies_are_read_like_mlw_predict_reads_files():
    rows = requests.parse_csv(b"age,plan,member\n30,pro,true\n,basic,false\n")
    assert rows.n == 2 and rows.columns is None
    assert rows.frame["age"].isna().tolist() == [False, True]
    assert rows.frame["plan"].tolist() == ["pro", "basic"]
    assert rows.records()[1] == {"age": None, "plan": "basic", "member": False}
    for body, message in [(b"age,age\n1,2\n", "The CSV header names column 'age' twice"),
                          (b"a,b\n1,2,3\n", "Failed to parse input as a Pandas DataFrame"),
                          (b"   \n", "Failed to parse input as a Pandas DataFrame: the CSV body is empty")]:
        with pytest.raises(requests.RequestError) as caught:
            requests.parse_csv(body)
        assert caught.value.message.startswith(message), caught.value.message


def test_the_server_takes_its_startup_heap_out_of_the_collectors_view(served):
    import gc

    from mlflow_cli.core.config import load_config
    from mlflow_cli.serve.app import create_app

    state = create_app(load_config(served[2]), "latest").state.mlw
    gc.unfreeze()
    state.start()
    try:
        assert gc.get_freeze_count() > 10_000  # modules, the app and the model
    finally:
        state.stop()
        gc.unfreeze()


CHECK_MALLOC = """
import ctypes
from mlflow_cli.serve.memory import keep_freed_memory

class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                     "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Mallinfo2
mapped = libc.mallinfo2().hblks
block = bytearray(24 * 1024 * 1024)
print(libc.mallinfo2().hblks - mapped)
del block
print(keep_freed_memory())
block = bytearray(24 * 1024 * 1024)
print(libc.mallinfo2().hblks - mapped)
"""


@pytest.mark.skipif(not hasattr(ctypes.CDLL(None), "mallinfo2"), reason="needs glibc 2.33 or later (mallinfo2)")
def test_keep_freed_memory_serves_large_blocks_from_the_heap():
    """keep_freed_memory (called when the server starts): a large block comes from malloc's heap,
    not from a fresh mapping whose every page faults on first touch (8-14 ms per 10,000-row
    request on this VM). mallinfo2 counts the mapped blocks. In a fresh interpreter, since the
    setting lasts for the process."""
    out = subprocess.run([sys.executable, "-c", CHECK_MALLOC], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["1", "True", "0"]  # mapped by default; applied; then from the heap


def test_the_server_keeps_freed_memory_from_its_start(served, monkeypatch):
    import gc

    from mlflow_cli.core.config import load_config
    from mlflow_cli.serve import app

    calls = []
    monkeypatch.setattr(app, "keep_freed_memory", lambda: calls.append(1) or True)
    state = app.create_app(load_config(served[2]), "latest").state.mlw
    state.start()
    try:
        assert calls == [1]
    finally:
        state.stop()
        gc.unfreeze()  # start() froze the heap (settle_heap)


def test_records_become_columns_only_when_every_record_has_the_same_keys():
    same = requests.parse_predict(b'[{"a": 1, "b": "x"}, {"b": "y", "a": 2}]')
    assert same.columns == {"a": [1, 2], "b": ["x", "y"]}
    assert requests.parse_predict(b'[{"a": 1}, {"a": 2}]').columns == {"a": [1, 2]}
    other = requests.parse_predict(b'[{"a": 1, "b": "x"}, {"a": 2, "c": "y"}]')  # as many keys, other ones
    assert other.columns is None and list(other.frame.columns) == ["a", "b", "c"]
    with pytest.raises(requests.RequestError, match="item 1 is a number"):
        requests.parse_predict(b'[{"a": 1}, 5]')


@pytest.mark.parametrize("change", [
    {"income": [float("inf"), 5.0]},      # infinity: scikit-learn's imputers refuse it, the frame path decides
    {"age": [10 ** 400, 3.5]},              # too large for a float
])
def test_certainly_valid_refuses_numbers_a_float_cannot_hold(change):
    assert not columns_certainly_valid({**GOOD, **change}, SCHEMA, "reject")


def test_bodies_only_the_standard_library_reads_take_the_frame_path():
    assert requests.parse_predict(b'[{"a": 1.5}]').columns == {"a": [1.5]}
    for body in (b'[{"a": NaN}]', b'[{"a": "x\\ud800"}]', b'{"dataframe_records": [{"a": Infinity}]}'):
        rows = requests.parse_predict(body)
        assert rows.columns is None and rows.n == 1, body


def test_csv_bodies_keep_non_numeric_columns_as_text():
    schema = {"columns": {"age": {"kind": "numeric"}, "plan": {"kind": "categorical"},
                          "member": {"kind": "boolean"}, "since": {"kind": "datetime"}}}
    rows = requests.parse_csv(b"age,plan,member,since\n30,2020-01-01,1,2020-01-01T00:00:00+02:00\n"
                               b"<NA>,None,true,2021-05-01\n", schema)
    frame = rows.frame
    assert frame["age"].isna().tolist() == [False, True]
    assert frame["plan"].tolist()[0] == "2020-01-01" and pd.isna(frame["plan"].tolist()[1])
    assert frame["member"].tolist() == ["1", "true"]
    assert frame["since"].tolist()[0] == "2020-01-01T00:00:00+02:00"  # parsed later, as a JSON string would be


def test_the_prediction_log_writes_what_orjson_cannot_and_never_drops_other_requests(tmp_path):
    from mlflow_cli.serve.predlog import LogEntry, PredictionLog

    class Broken:
        def records(self):
            raise RuntimeError("no records")

    def entry(request_id, inputs, n=1):
        return LogEntry(ts="t", request_id=request_id, model_version="v", alias=None, endpoint="/predict",
                        latency_ms=1.0, inputs=inputs, predictions=["yes"] * n,
                        probabilities=np.array([[0.25, 0.75]] * n), classes=["no", "yes"])

    log = PredictionLog(tmp_path, max_mb=10)
    log.start()
    odd = requests.Rows(1, {"big": [10 ** 30], "nan": [float("nan")], "text": ["x\ud800"]})
    log.submit(entry("first", requests.Rows(1, {"a": [1]})))
    log.submit(entry("broken", Broken()))
    log.submit(entry("odd", odd))
    log.submit(entry("last", requests.Rows(2, {"a": [2, 3]}), n=2))
    log.close()
    lines = [json.loads(line) for path in tmp_path.glob("*.jsonl") for line in path.read_text().splitlines()]
    assert [line["request_id"] for line in lines] == ["first", "odd", "last", "last"]
    assert lines[1]["inputs"] == {"big": 10 ** 30, "nan": None, "text": "x\ud800"}
    assert lines[1]["probabilities"] == {"no": 0.25, "yes": 0.75}


def test_spliced_log_lines_are_the_lines_of_one_dict_per_row():
    from mlflow_cli.serve.predlog import LogEntry, _line, entry_lines

    rows = requests.Rows(3, {"a": [1.5, None, 3.0], "plan": ["pro", "basic", None]})
    entry = LogEntry(ts="2024-01-01T00:00:00+00:00", request_id="r1", model_version="v1", alias="production",
                     endpoint="/predict", latency_ms=1.23456, inputs=rows, predictions=["yes", "no", "yes"],
                     probabilities=np.array([[0.1, 0.9], [0.8, 0.2], [float("nan"), 0.5]]), classes=["no", "yes"])
    expected = [_line({"ts": entry.ts, "request_id": "r1", "model_version": "v1", "alias": "production",
                       "endpoint": "/predict", "latency_ms": 1.235, "row": i, "inputs": record,
                       "prediction": prediction, "probabilities": dict(zip(["no", "yes"], proba))})
                for i, (record, prediction, proba) in enumerate(zip(rows.records(), entry.predictions,
                                                                   entry.probabilities.tolist()))]
    lines = entry_lines(entry)
    assert lines == expected
    assert json.loads(lines[2])["probabilities"] == {"no": None, "yes": 0.5}


@pytest.mark.parametrize("bound", [50, 10 ** 6])
def test_the_log_queue_is_bounded_by_rows_and_loses_no_line(tmp_path, monkeypatch, bound):
    """A slow writer makes submitters wait at the bound (the server slows to the log's pace
    instead of holding ever more requests); every line is still written."""
    import time

    from mlflow_cli.serve.predlog import LogEntry, PredictionLog

    write = PredictionLog._write

    def slow(self, batch):
        time.sleep(0.02)
        write(self, batch)

    monkeypatch.setattr(PredictionLog, "_write", slow)
    log = PredictionLog(tmp_path, max_mb=10, pending_rows=bound)
    log.start()
    seen = []
    for i in range(20):
        rows = requests.Rows(10, {"a": list(range(10))})
        log.submit(LogEntry(ts="t", request_id=f"r{i}", model_version="v", alias=None, endpoint="/predict",
                            latency_ms=1.0, inputs=rows, predictions=["yes"] * 10))
        seen.append(log.pending)
    log.close()
    lines = [json.loads(line) for path in tmp_path.glob("*.jsonl") for line in path.read_text().splitlines()]
    assert len(lines) == 200 and log.pending == 0
    assert [line["request_id"] for line in lines[::10]] == [f"r{i}" for i in range(20)]
    if bound == 50:
        assert max(seen) <= 50
    else:
        assert max(seen) > 50  # without the bound the queue grows: the test can tell the difference
