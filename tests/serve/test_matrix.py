"""The float-matrix path for large all-numbers requests (serve/matrix.py): CSV bodies and JSON
{"columns", "data"} bodies of a model whose inputs are all numeric are scored from one float
matrix. It must give exactly what the general path gives, and hand anything it is not certain
about (nulls, text, booleans, nested or ragged rows, other keys) to the general path."""

from __future__ import annotations

import json
import shutil

import numpy as np
import orjson
import pandas as pd
import pytest

from mlflow_cli.data.validation.fast import matrix_certainly_valid, numeric_schema
from mlflow_cli.serve import requests, responses, scoring
from mlflow_cli.serve.matrix import JSON_MIN_BYTES, csv_matrix, json_matrix, table_matrix
from mlflow_cli.serve.model import load_served_model
from mlflow_cli.core.store import Store

from ..conftest import DATA, run_mlw
from .conftest import Project, start_server

SCHEMA = {"columns": {"a": {"kind": "numeric", "nullable": False}, "b": {"kind": "numeric", "nullable": True}},
          "id_columns": ["id"], "target": {"name": "label"}}


@pytest.fixture(scope="module")
def numeric(tmp_path_factory):
    """XGBoost on breast cancer (scikit-learn's bundled data: 30 numeric features)."""
    folder = tmp_path_factory.mktemp("matrix")
    shutil.copy(DATA / "breast_cancer.csv", folder / "breast_cancer.csv")
    config = folder / "mlw.yaml"
    config.write_text("project: breast_cancer\n"
                      "data: {source: {path: breast_cancer.csv}, target: diagnosis}\n"
                      "train: {model: xgboost, params: {n_estimators: 30}}\n")
    for args in (["run", "-c", config, "--until", "train"], ["models", "promote", "latest", "-c", config]):
        result = run_mlw(*args)
        assert result.exit_code == 0, result.stderr
    model = load_served_model(Store(folder / "artifacts", "breast_cancer"), "production")
    assert model.compiled is not None and numeric_schema(model.schema)
    features = pd.read_csv(DATA / "breast_cancer.csv").drop(columns=["diagnosis"])
    return model, features, config


def _split(features: pd.DataFrame, key: str | None = None) -> dict:
    split = {"columns": list(features.columns), "data": features.to_numpy().tolist()}
    return {key: split} if key else split


def _general(model, body: bytes):
    """Scores of the general path (orjson -> columns or frame), whatever the body."""
    rows = requests._lenient(requests._predict_rows(orjson.loads(body)), True)
    return scoring.score_rows(model, rows, "reject")


def test_a_numbers_only_split_body_is_read_into_one_matrix(numeric, monkeypatch):
    model, features, _ = numeric
    body = json.dumps(_split(features)).encode()
    assert len(body) > JSON_MIN_BYTES
    expected = _general(model, body)
    rows = requests.parse_predict(body, model.schema)
    assert rows.matrix is not None and rows.names == list(features.columns)
    np.testing.assert_array_equal(rows.matrix, features.to_numpy(dtype=float))

    def refuse(*args, **kwargs):
        raise AssertionError("the general path was taken")

    monkeypatch.setattr(scoring, "check_frame", refuse)
    monkeypatch.setattr(type(model), "predict_columns", refuse)
    got = scoring.score_rows(model, rows, "reject")
    assert got.predictions.tolist() == expected.predictions.tolist()
    np.testing.assert_allclose(got.proba, expected.proba, rtol=1e-12)
    # MLflow's dataframe_split, on /predict and on /invocations
    wrapped = json.dumps(_split(features, "dataframe_split")).encode()
    for parsed in (requests.parse_predict(wrapped, model.schema),
                   requests.parse_invocations(wrapped, "application/json", model.schema)):
        np.testing.assert_array_equal(parsed.matrix, rows.matrix)
    # the log writes each record with its columns
    assert rows.records()[0] == dict(zip(features.columns, features.iloc[0].tolist()))


def test_invocations_still_needs_one_of_mlflows_keys(numeric):
    model, features, _ = numeric
    with pytest.raises(requests.RequestError, match="exactly one of the input fields"):
        requests.parse_invocations(json.dumps(_split(features)).encode(), "application/json", model.schema)


def _mutate(change):
    def apply(split: dict) -> dict:
        change(split)
        return split
    return apply


DOUBTFUL = {
    "a null": _mutate(lambda s: s["data"][3].__setitem__(2, None)),
    "a numeric string": _mutate(lambda s: s["data"][3].__setitem__(2, "17.5")),
    "a boolean": _mutate(lambda s: s["data"][3].__setitem__(2, True)),
    "a nested value": _mutate(lambda s: s["data"][3].__setitem__(2, [17.5])),
    "a short row": _mutate(lambda s: s["data"][3].pop()),
    "a short row and a long one": _mutate(lambda s: (s["data"][3].pop(), s["data"][4].append(1.0))),
    "a row that is a number": _mutate(lambda s: s["data"].__setitem__(3, 1.0)),
    "an index": _mutate(lambda s: s.__setitem__("index", list(range(len(s["data"]))))),
    "a duplicate column": _mutate(lambda s: s["columns"].__setitem__(1, s["columns"][0])),
    "a bracket in a column name": _mutate(lambda s: s["columns"].__setitem__(1, "mean[1]")),
    "an integer beyond 64 bits": _mutate(lambda s: s["data"][3].__setitem__(2, 10 ** 30)),
}


@pytest.mark.parametrize("name", DOUBTFUL)
def test_doubtful_bodies_take_the_general_path_and_get_its_answer(numeric, name):
    model, features, _ = numeric
    body = json.dumps(DOUBTFUL[name](_split(features))).encode()
    assert json_matrix(body, model.schema, bare=True) is None
    rows = outcome = None
    try:
        rows = requests.parse_predict(body, model.schema)
        outcome = scoring.score_rows(model, rows, "reject").predictions.tolist()
    except (requests.RequestError, scoring.InputError) as exc:
        outcome = type(exc).__name__, str(exc)
    try:
        expected = _general(model, body).predictions.tolist()
    except (requests.RequestError, scoring.InputError) as exc:
        expected = type(exc).__name__, str(exc)
    assert outcome == expected
    if name in ("a null", "a nested value"):
        assert outcome[0] == "InputError"  # a 422 naming the field, as before
    if name == "an index":
        assert len(outcome) == len(features)  # an index is allowed, just not on the matrix path


def test_parsed_records_and_rows_of_numbers_become_a_matrix(numeric, monkeypatch):
    model, features, _ = numeric
    records = json.loads(features.head(100).to_json(orient="records"))
    expected = _general(model, json.dumps(records).encode())
    rows = requests.parse_predict(json.dumps(records).encode(), model.schema)
    assert rows.matrix is not None and rows.columns is None
    np.testing.assert_array_equal(rows.matrix, features.head(100).to_numpy(dtype=float))
    assert rows.records() == records  # the log writes them as sent
    monkeypatch.setattr(type(model), "predict_columns", lambda *a: (_ for _ in ()).throw(AssertionError("columns")))
    got = scoring.score_rows(model, rows, "reject")
    np.testing.assert_allclose(got.proba, expected.proba, rtol=1e-12)
    small = json.dumps(_split(features.head(100), "dataframe_split")).encode()  # under JSON_MIN_BYTES: orjson
    assert len(small) < JSON_MIN_BYTES
    np.testing.assert_array_equal(requests.parse_invocations(small, "application/json", model.schema).matrix,
                                  rows.matrix)


def test_only_bodies_that_open_an_object_are_read_by_simdjson(numeric, monkeypatch):
    """A large list of records goes straight to orjson (simdjson would spend 8 ms on 5 MB only to
    find a list); a split body behind some whitespace still takes simdjson's path."""
    import simdjson

    model, features, _ = numeric
    records = json.dumps(json.loads(features.to_json(orient="records"))).encode()
    split = b"\n  " + json.dumps(_split(features)).encode()
    assert min(len(records), len(split)) > JSON_MIN_BYTES
    assert requests.parse_predict(split, model.schema).records()[0] == dict(zip(features.columns,
                                                                                  features.iloc[0].tolist()))
    class Read(Exception):
        pass

    def parser():
        raise Read

    monkeypatch.setattr(simdjson, "Parser", parser)
    rows = requests.parse_predict(records, model.schema)  # Read would escape: the parse does not catch it
    np.testing.assert_array_equal(rows.matrix, features.to_numpy(dtype=float))
    with pytest.raises(Read):  # simdjson does read the split body, even behind whitespace
        requests.parse_predict(split, model.schema)


@pytest.mark.parametrize("value", [True, None, "1.5", [1.5], 10 ** 400])
def test_records_with_anything_but_numbers_keep_the_column_path(numeric, value):
    model, features, _ = numeric
    records = json.loads(features.head(100).to_json(orient="records"))
    records[50]["mean_radius"] = value
    rows = requests.parse_predict(json.dumps(records).encode(), model.schema)
    assert rows.matrix is None
    few = requests.parse_predict(json.dumps(records[:10]).encode(), model.schema)  # small requests: columns
    assert few.matrix is None and few.columns is not None


def test_probability_records_of_odd_shapes_are_what_dicts_would_give():
    proba = np.array([[0.25, 0.75], [0.5, 0.5]])
    for classes, expected in [([1, "1"], [{"1": 0.75}, {"1": 0.5}]),           # one key twice: the last wins
                              (["a", "b", "c"], [{"a": 0.25, "b": 0.75}, {"a": 0.5, "b": 0.5}])]:  # too few columns
        assert orjson.loads(responses.dumps({"p": responses.probability_records(classes, proba)}))["p"] == expected


def test_a_key_given_twice_or_an_id_column_takes_the_general_path(numeric):
    model, features, _ = numeric
    body = json.dumps(_split(features)).encode()
    for twice in (body[:-1] + b', "data": 7}', body[:-1] + b', "columns": "zz"}',
                  b'{"dataframe_split": ' + body + b', "dataframe_split": 5}'):
        assert json_matrix(twice, model.schema, bare=True) is None
        with pytest.raises(requests.RequestError):
            requests.parse_predict(twice, model.schema)
    rows = [[1234567890123456789 + i, 1.5, 2] for i in range(4000)]
    with_ids = json.dumps({"columns": ["id", "a", "b"], "data": rows}).encode()
    assert len(with_ids) > JSON_MIN_BYTES and json_matrix(with_ids, SCHEMA, bare=True) is None
    parsed = requests.parse_predict(with_ids, SCHEMA)
    assert parsed.matrix is not None  # orjson's rows still become a matrix...
    assert parsed.records()[3] == {"id": 1234567890123456792, "a": 1.5, "b": 2}  # ...and the log keeps the id exact


def test_smaller_split_bodies_log_their_integers_as_integers(numeric):
    model, features, _ = numeric
    head = features.head(100).assign(mean_area=features["mean_area"].head(100).round().astype(int))
    body = json.dumps({k: v for k, v in json.loads(head.to_json(orient="split")).items() if k != "index"})
    rows = requests.parse_predict(body.encode(), model.schema)
    assert rows.matrix is not None
    first = rows.records()[0]
    assert type(first["mean_area"]) is int and first == json.loads(head.head(1).to_json(orient="records"))[0]


def test_small_bodies_and_other_schemas_are_left_to_the_general_path(numeric):
    model, features, _ = numeric
    small = json.dumps(_split(features.head(2))).encode()
    assert json_matrix(small, model.schema, bare=True) is None
    body = json.dumps(_split(features)).encode()
    mixed = {"columns": {**model.schema["columns"], "plan": {"kind": "categorical"}}}
    assert not numeric_schema(mixed) and json_matrix(body, mixed, bare=True) is None
    assert json_matrix(b"[" + b" " * JSON_MIN_BYTES + b"]", model.schema, bare=True) is None
    assert json_matrix(b"{" * JSON_MIN_BYTES, model.schema, bare=True) is None  # not JSON: the general path says so


def test_csv_bodies_of_numbers_are_scored_from_the_matrix_and_logged_as_sent(numeric, monkeypatch):
    model, features, _ = numeric
    body = features.head(50).assign(mean_area=features["mean_area"].head(50).round().astype(int)).to_csv(
        index=False).encode()
    expected = scoring.score_rows(model, requests.Rows.of(pd.read_csv(pd.io.common.BytesIO(body))), "reject")
    rows = requests.parse_csv(body, model.schema)
    assert rows.matrix is not None
    monkeypatch.setattr(scoring, "check_frame", lambda *a: (_ for _ in ()).throw(AssertionError("general path")))
    got = scoring.score_rows(model, rows, "reject")
    np.testing.assert_allclose(got.proba, expected.proba, rtol=1e-12)
    first = rows.records()[0]
    assert type(first["mean_area"]) is int  # the log shows integers as the client sent them


def _big_csv(features: pd.DataFrame, line_end: str = "\n") -> bytes:
    """All 569 rows, four times (over 64 KB), one column of integers."""
    frame = pd.concat([features] * 4, ignore_index=True)
    frame["mean_area"] = frame["mean_area"].round().astype(int)
    body = frame.to_csv(index=False, lineterminator=line_end).encode()
    assert len(body) > JSON_MIN_BYTES
    return body


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_large_csv_bodies_of_plain_numbers_are_read_by_simdjson(numeric, monkeypatch, line_end):
    """Same matrix as pyarrow's reader and same scores as the general path."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    model, features, _ = numeric
    body = _big_csv(features, line_end)
    names, matrix = csv_matrix(body, model.schema)
    reference = pcsv.read_csv(pa.py_buffer(body))
    assert names == reference.column_names
    np.testing.assert_array_equal(matrix, np.column_stack([c.to_numpy() for c in reference.columns]).astype(float))
    expected = scoring.score_rows(model, requests.Rows.of(pd.read_csv(pd.io.common.BytesIO(body))), "reject")
    monkeypatch.setattr(requests, "table_matrix", lambda *a: pytest.fail("pyarrow read the request"))
    rows = requests.parse_csv(body, model.schema)
    monkeypatch.setattr(scoring, "check_frame", lambda *a: pytest.fail("the general path was taken"))
    got = scoring.score_rows(model, rows, "reject")
    assert got.predictions.tolist() == expected.predictions.tolist()
    np.testing.assert_allclose(got.proba, expected.proba, rtol=1e-12)
    records = rows.records()  # for the log: read as floats, like a large JSON body (predlog.py says so)
    assert len(records) == len(matrix) and records[1] == dict(zip(names, matrix[1].tolist()))
    assert type(records[0]["mean_area"]) is float and records[0]["mean_area"] == round(features["mean_area"][0])


CSV_DOUBTFUL = {
    "a missing value": lambda lines: lines[:5] + [",".join(f if i != 3 else "" for i, f in enumerate(
        lines[5].split(",")))] + lines[6:],
    "an empty field": lambda lines: lines[:5] + ["," + lines[5].split(",", 1)[1]] + lines[6:],
    "NaN spelled out": lambda lines: lines[:5] + ["nan," + lines[5].split(",", 1)[1]] + lines[6:],
    "a blank line": lambda lines: lines[:5] + [""] + lines[5:],
    "a ragged row": lambda lines: lines[:5] + [lines[5] + ",1"] + lines[6:],
    "a bracket": lambda lines: lines[:5] + ["[1]," + lines[5].split(",", 1)[1]] + lines[6:],
    "a quoted value": lambda lines: lines[:5] + ['"1",' + lines[5].split(",", 1)[1]] + lines[6:],
    "true for a number": lambda lines: lines[:5] + ["true," + lines[5].split(",", 1)[1]] + lines[6:],
    "a number JSON refuses": lambda lines: lines[:5] + [".5," + lines[5].split(",", 1)[1]] + lines[6:],
    "the target column": lambda lines: [lines[0] + ",diagnosis"] + [line + ",benign" for line in lines[1:]],
    "a column twice": lambda lines: [lines[0].replace("mean_texture", "mean_radius")] + lines[1:],
    "a carriage return alone": lambda lines: lines[:5] + [lines[5].replace(",", ",\r", 1)] + lines[6:],
    "a form feed": lambda lines: lines[:5] + [lines[5] + "\x0c"] + lines[6:],
    "a last line of spaces": lambda lines: lines + [" "],
    "an empty field late": lambda lines: lines[:-5] + ["," + lines[-5].split(",", 1)[1]] + lines[-4:],
}
REFUSED = {"a missing value", "an empty field", "NaN spelled out", "a ragged row", "a bracket", "true for a number",
           "a column twice", "a carriage return alone", "a last line of spaces", "an empty field late"}


@pytest.mark.parametrize("name", CSV_DOUBTFUL)
def test_doubtful_csv_bodies_are_left_to_pyarrow_and_get_its_answer(numeric, monkeypatch, name):
    import simdjson

    model, features, _ = numeric
    lines = _big_csv(features).decode().rstrip("\n").split("\n")
    body = ("\n".join(CSV_DOUBTFUL[name](lines)) + "\n").encode()
    parses = []
    parser = simdjson.Parser
    monkeypatch.setattr(simdjson, "Parser", lambda: parses.append(1) or parser())
    assert csv_matrix(body, model.schema) is None
    if name in {"a missing value", "an empty field", "NaN spelled out", "true for a number"}:
        assert len(parses) == 1  # the first 64 KB said so: the whole body was not read
    monkeypatch.undo()
    try:
        rows = requests.parse_csv(body, model.schema)
        got = scoring.score_rows(model, rows, "reject")
    except (requests.RequestError, scoring.InputError) as exc:
        assert name in REFUSED, exc  # told what is wrong, as a small body would be
        small = ("\n".join(CSV_DOUBTFUL[name](lines[:12])) + "\n").encode()
        with pytest.raises((requests.RequestError, scoring.InputError)):
            scoring.score_rows(model, requests.parse_csv(small, model.schema), "reject")
        return
    assert name not in REFUSED
    general = requests.Rows.of(pd.read_csv(pd.io.common.BytesIO(body)))
    assert got.proba.tolist() == scoring.score_rows(model, general, "reject").proba.tolist()


def test_small_csv_bodies_and_other_schemas_skip_simdjson(numeric):
    model, features, _ = numeric
    assert csv_matrix(features.head(20).to_csv(index=False).encode(), model.schema) is None
    mixed = {"columns": {**model.schema["columns"], "plan": {"kind": "categorical"}}}
    assert csv_matrix(_big_csv(features), mixed) is None and csv_matrix(_big_csv(features), None) is None


def test_csv_matrix_takes_ids_along_and_leaves_text_and_infinity_to_the_general_path(numeric):
    import pyarrow as pa

    table = pa.table({"id": ["c1", "c2"], "b": [1.5, None], "a": [1, 2]})
    names, matrix = table_matrix(table, SCHEMA)
    assert names == ["a", "b"]
    np.testing.assert_array_equal(matrix, [[1.0, 1.5], [2.0, np.nan]])
    assert table_matrix(pa.table({"a": ["x", "y"], "b": [1.0, 2.0]}), SCHEMA) is None  # text in a number column
    assert table_matrix(pa.table({"a": [1, 2], "b": [1.0, 2.0], "other": [1, 2]}), SCHEMA) is None
    assert table_matrix(pa.table({"a": [1, 2]}), SCHEMA) is None  # a column missing
    model = numeric[0]
    first = model.schema["columns"]
    body = ",".join(first) + "\n" + ",".join(["inf"] + ["1"] * (len(first) - 1)) + "\n"
    rows = requests.parse_csv(body.encode(), model.schema)
    assert rows.matrix is not None and model.predict_matrix(rows.names, rows.matrix) is None
    general = requests.Rows.of(pd.read_csv(pd.io.common.BytesIO(body.encode())))
    assert scoring.score_rows(model, rows, "reject").proba.tolist() == \
        scoring.score_rows(model, general, "reject").proba.tolist()


def test_csv_values_may_hold_newlines_when_quoted():
    rows = requests.parse_csv(b'id,a,b\n"c\n1",1,2.5\nc2,3,4\n', SCHEMA)
    assert rows.n == 2
    np.testing.assert_array_equal(rows.matrix, [[1.0, 2.5], [3.0, 4.0]])
    assert rows.records()[0] == {"id": "c\n1", "a": 1, "b": 2.5}
    assert requests.parse_csv(b"a,b\r\n1,2\r\n3,4\r\n", SCHEMA).matrix.tolist() == [[1.0, 2.0], [3.0, 4.0]]


@pytest.mark.parametrize("names, rows, ok", [
    (["a", "b"], [[1.0, np.nan]], True),             # missing where training saw missing values
    (["b", "a", "id", "label"], [[1.0, 2.0, 3.0, 4.0]], True),  # any order; ids and the target ride along
    (["a", "b"], [[np.nan, 1.0]], False),            # missing where training had none
    (["a", "b"], [[np.inf, 1.0]], False),            # infinity
    (["a", "b"], [[1.0, 1.0], [1.0, -np.inf]], False),  # in any row
    (["a", "b", "id"], [[1.0, 2.0, np.inf]], True),  # a passenger is not the model's input
    (["a", "b", "c"], [[1.0, 1.0, 1.0]], False),     # an unknown column
    (["a"], [[1.0]], False),                         # a column missing
    (["a", "a", "b"], [[1.0, 1.0, 1.0]], False),     # a column twice
])
def test_matrix_certainly_valid(names, rows, ok):
    assert matrix_certainly_valid(names, np.array(rows), SCHEMA) is ok
    texty = {"columns": {**SCHEMA["columns"], "b": {"kind": "categorical"}}}
    assert not matrix_certainly_valid(["a", "b"], np.array([[1.0, 1.0]]), texty)


@pytest.mark.parametrize("classes", [["no", "yes"], [0, 1, 2], ["a,b", 'q"]', "x]"], ["only"], [True, False],
                                     list("abcde"), ["no", "yes|maybe"], ["a\nb", "],[", "|"]])
def test_probability_records_are_one_object_per_row(classes):
    rng = np.random.default_rng(3)
    proba = rng.random((6, len(classes)))
    proba[0, 0], proba[1, -1], proba[2, 0] = 1.0, 0.0, 1e-20
    got = orjson.loads(responses.dumps({"p": responses.probability_records(classes, proba)}))["p"]
    assert got == [dict(zip(map(str, classes), row)) for row in proba.tolist()]
    empty = responses.dumps({"p": responses.probability_records(classes, proba[:0])})
    assert orjson.loads(empty) == {"p": []}


def test_the_server_scores_large_numeric_requests_as_it_scores_small_ones(numeric):
    model, features, config = numeric
    project = Project(config, model.version)
    server = start_server(project)
    try:
        with server.client() as client:
            split = client.post("/predict", content=json.dumps(_split(features)))
            csv = client.post("/invocations", content=features.to_csv(index=False),
                              headers={"Content-Type": "text/csv"})
            mlflow = client.post("/invocations", json=_split(features, "dataframe_split"))
            one = [client.post("/predict", json=[record]).json() for record in
                   json.loads(features.head(3).to_json(orient="records"))]
    finally:
        code, stderr = server.stop()
    assert code == 0, stderr
    assert split.status_code == csv.status_code == mlflow.status_code == 200, (split.text, csv.text)
    body = split.json()
    assert body["predictions"] == csv.json()["predictions"] == mlflow.json()["predictions"]
    expected = model.predict(features)
    assert body["predictions"] == expected.predictions.tolist()
    np.testing.assert_allclose([[p[c] for c in body["classes"]] for p in body["probabilities"]], expected.proba,
                               rtol=1e-12)
    assert [o["probabilities"][0] for o in one] == body["probabilities"][:3]
    lines = [json.loads(line) for path in sorted((config.parent / "artifacts" / "breast_cancer" / "predictions")
                                                 .glob("*.jsonl")) for line in path.read_text().splitlines()]
    logged = [line for line in lines if line["request_id"] == body["request_id"]]
    assert len(logged) == len(features)
    assert logged[5]["inputs"] == dict(zip(features.columns, features.iloc[5].tolist()))
    assert logged[5]["prediction"] == body["predictions"][5]
