"""The data-source readers behind `mlw ingest`, tested through the real command.

Every file type is written from one seeded frame and read back through `mlw ingest --json`:
row counts, column names, profile values against pandas, schema kinds and the stored
Parquet against the input. SQL is tested on SQLite and on a real PostgreSQL server
(tests/postgres.py). Bad sources must end with exit code 3 and one short message.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from tests.conftest import write_config
from tests.postgres import PASSWORD_ENV, free_port, postgres_url  # noqa: F401  (fixture)

from mlflow_cli.data import readers, sources
from mlflow_cli.core.config import SourceConfig
from mlflow_cli.core.errors import DataError

KINDS = {"customer_id": "numeric", "amount": "numeric", "plan": "categorical", "note": "text",
         "active": "boolean", "signup_at": "datetime"}
WORDS = ["late", "payment", "support", "call", "upgrade", "asked", "about", "price", "refund", "app", "crash"]


# --------------------------------------------------------------------------- helpers


def sample_frame(rows: int = 120, seed: int = 7, start_id: int = 1) -> pd.DataFrame:
    """One column of every kind, with missing values where a real export has them."""
    rng = np.random.default_rng(seed)
    amount = rng.normal(50, 20, rows).round(2)
    amount[rng.random(rows) < 0.1] = np.nan
    plan = rng.choice(np.array(["basic", "plus", "pro"], dtype=object), rows)
    plan[rng.random(rows) < 0.05] = None
    note = [f"note {i} " + " ".join(rng.choice(WORDS, 4)) for i in range(rows)]
    return pd.DataFrame({
        "customer_id": np.arange(start_id, start_id + rows, dtype="int64"),
        "amount": amount,
        "plan": pd.Series(plan, dtype="str"),
        "note": pd.Series(note, dtype="str"),
        "active": rng.random(rows) < 0.6,
        "signup_at": pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 700 * 86400, rows), unit="s"),
    })


def make_project(folder: Path, source: dict, **data: object) -> Path:
    return write_config(folder, {"project": "src", "data": {"source": source, **data}})


def ingest(mlw, config: Path, *args: str):
    return mlw("ingest", "-c", config, "--json", *args)


def ok(run) -> dict:
    assert run.exit_code == 0, f"exit {run.exit_code}\nstdout: {run.stdout}\nstderr: {run.stderr}"
    return run.json()


def stored(result: dict) -> pd.DataFrame:
    return pd.read_parquet(Path(result["path"]) / "data.parquet")


def schema_kinds(result: dict) -> dict[str, str]:
    schema = json.loads((Path(result["path"]) / "schema.json").read_text())
    return {name: column["kind"] for name, column in schema["columns"].items()}


def assert_profile_matches(profile: dict, frame: pd.DataFrame) -> None:
    """Every profile number against pandas on the same data."""
    assert profile["rows"] == len(frame)
    assert list(profile["columns"]) == list(frame.columns)
    for name, column in profile["columns"].items():
        values = frame[name]
        assert column["missing"] == int(values.isna().sum()), name
        assert column["missing_share"] == pytest.approx(round(values.isna().mean(), 6)), name
        assert column["distinct"] == values.nunique(), name
        if column["kind"] == "numeric":
            assert column["min"] == pytest.approx(values.min()), name
            assert column["max"] == pytest.approx(values.max()), name
            assert column["mean"] == pytest.approx(values.mean()), name
            assert column["std"] == pytest.approx(values.std()), name
        if column["kind"] == "datetime":
            assert pd.Timestamp(column["min"]) == values.min(), name
            assert pd.Timestamp(column["max"]) == values.max(), name
        if column["kind"] == "boolean":
            assert (column["min"], column["max"]) == (bool(values.min()), bool(values.max())), name


def assert_same_data(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Equal values and column order; the datetime unit (s, ms, ns) depends on the reader."""
    actual, expected = actual.copy(), expected.copy()
    for frame in (actual, expected):
        for name in frame.columns:
            if pd.api.types.is_datetime64_any_dtype(frame[name]):
                frame[name] = frame[name].astype("datetime64[ns]")
    pdt.assert_frame_equal(actual, expected, check_dtype=False)


def assert_one_error(run, code: int, *fragments: str) -> str:
    """A failed run: the documented code, one short paragraph naming the problem, no traceback."""
    output = run.stdout + run.stderr
    assert run.exit_code == code, f"exit {run.exit_code}\n{output}"
    assert run.stdout == "", "--json prints nothing on stdout when the command fails"
    assert "Traceback" not in output
    assert "Unexpected internal error" not in output
    text = run.stderr.strip()
    assert text.startswith("Error:"), text
    assert "\n\n" not in text and len(text.splitlines()) <= 3, text
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in {text!r}"
    return text


# --------------------------------------------------------------------------- file types


def _write_csv(frame: pd.DataFrame, folder: Path) -> dict:
    frame.to_csv(folder / "customers.csv", index=False)
    return {"path": "data/customers.csv"}


def _write_tsv(frame: pd.DataFrame, folder: Path) -> dict:
    frame.to_csv(folder / "customers.tsv", sep="\t", index=False)
    return {"path": "data/customers.tsv"}


def _write_parquet(frame: pd.DataFrame, folder: Path) -> dict:
    frame.to_parquet(folder / "customers.parquet", index=False)
    return {"path": "data/customers.parquet"}


def _write_json(frame: pd.DataFrame, folder: Path) -> dict:
    frame.to_json(folder / "customers.json", orient="records", date_format="iso")
    return {"path": "data/customers.json"}


def _write_jsonl(frame: pd.DataFrame, folder: Path) -> dict:
    frame.to_json(folder / "customers.jsonl", orient="records", lines=True, date_format="iso")
    return {"path": "data/customers.jsonl"}


def _write_excel(frame: pd.DataFrame, folder: Path) -> dict:
    frame.to_excel(folder / "customers.xlsx", index=False, engine="openpyxl")
    return {"path": "data/customers.xlsx"}


WRITERS = {"csv": _write_csv, "tsv": _write_tsv, "parquet": _write_parquet, "json": _write_json,
           "jsonl": _write_jsonl, "excel": _write_excel}


@pytest.mark.parametrize("kind", list(WRITERS))
def test_ingest_file_type_round_trips(mlw, tmp_path: Path, kind: str) -> None:
    frame = sample_frame()
    (tmp_path / "data").mkdir()
    config = make_project(tmp_path, WRITERS[kind](frame, tmp_path / "data"), id_columns=["customer_id"])

    result = ok(ingest(mlw, config))

    assert result["info"]["rows"] == len(frame) and result["info"]["columns"] == frame.shape[1]
    assert result["inputs"][0]["source"]["type"] == kind
    assert_profile_matches(result["profile"], frame)
    assert {n: c["kind"] for n, c in result["profile"]["columns"].items()} == KINDS
    assert schema_kinds(result) == KINDS
    assert_same_data(stored(result), frame)
    assert result["warnings"] == []


def test_ingest_glob_adds_up_rows_and_unifies_types(mlw, tmp_path: Path) -> None:
    """part 1 has whole-number amounts (read as int64), part 2 fractional ones (double)."""
    (tmp_path / "data").mkdir()
    parts = [sample_frame(40, seed=1, start_id=1), sample_frame(50, seed=2, start_id=41),
             sample_frame(30, seed=3, start_id=91)]
    parts[0]["amount"] = np.arange(40, dtype="int64")
    for i, part in enumerate(parts):
        part.to_csv(tmp_path / "data" / f"part-{i}.csv", index=False)
    (tmp_path / "data" / "notes.txt.bak").write_text("not matched")
    config = make_project(tmp_path, {"path": "data/part-*.csv"})

    result = ok(ingest(mlw, config))

    expected = pd.concat(parts, ignore_index=True)
    expected["amount"] = expected["amount"].astype("float64")
    assert result["info"]["rows"] == 120
    assert [Path(f["path"]).name for f in result["inputs"][0]["source"]["files"]] == \
        ["part-0.csv", "part-1.csv", "part-2.csv"]
    assert result["profile"]["columns"]["amount"]["type"] == "double"
    assert_profile_matches(result["profile"], expected)
    assert_same_data(stored(result), expected)


def test_ingest_glob_with_different_columns_is_a_data_error(mlw, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    sample_frame(10, seed=1).to_csv(tmp_path / "data" / "a.csv", index=False)
    sample_frame(10, seed=2).drop(columns=["plan"]).to_csv(tmp_path / "data" / "b.csv", index=False)
    config = make_project(tmp_path, {"path": "data/*.csv"})

    assert_one_error(ingest(mlw, config), 3, "do not share one set of columns", "'b.csv' lacks ['plan']")


def test_ingest_csv_column_that_turns_to_text_is_reread_as_text(mlw, tmp_path: Path) -> None:
    """Types come from the first 1 MB block; later rows that do not fit widen the column."""
    rows = 90_000  # ~2 MB: several blocks
    ids = np.arange(rows)
    code = ids.astype(str).astype(object)
    code[80_000] = "A-80000"
    ratio = ids.astype(float)
    ratio[85_000] = 2.5  # whole numbers at first, one fraction late: float, not text
    late = np.full(rows, np.nan)
    late[70_000:] = 1.0  # empty at first, numbers later: float, not text
    frame = pd.DataFrame({"id": ids, "code": code, "ratio": ratio, "late": late})
    csv = tmp_path / "big.csv"
    frame.to_csv(csv, index=False, float_format="%g")
    assert csv.stat().st_size > 1 << 20
    config = make_project(tmp_path, {"path": "big.csv"})

    result = ok(ingest(mlw, config, "--set", "ingest.block_size_mb=1", "--set", "ingest.stream_above_mb=0"))

    assert result["info"]["read_as_text"] == ["code"]
    assert len(result["warnings"]) == 1 and "'code'" in result["warnings"][0]
    types = {name: column["type"] for name, column in result["profile"]["columns"].items()}
    assert types == {"id": "int64", "code": "string", "ratio": "double", "late": "double"}
    data = stored(result)
    assert data["code"].tolist() == pd.read_csv(csv, dtype={"code": str})["code"].tolist()
    assert data["ratio"].sum() == pytest.approx(ratio.sum())
    assert data["late"].isna().sum() == 70_000

    human = mlw("ingest", "-c", config, "--set", "ingest.block_size_mb=1", "--set", "ingest.stream_above_mb=0", "--force")
    assert human.exit_code == 0
    assert "Warning:" in human.stderr and "'code'" in human.stderr and "read as text" in human.stderr


def test_ingest_json_with_mixed_column_keeps_it_as_text(mlw, tmp_path: Path) -> None:
    (tmp_path / "mixed.json").write_text(json.dumps([{"id": 1, "size": 3}, {"id": 2, "size": "large"},
                                                     {"id": 3, "size": None}]))
    result = ok(ingest(mlw, make_project(tmp_path, {"path": "mixed.json"})))

    assert stored(result)["size"].tolist()[:2] == ["3", "large"]
    assert pd.isna(stored(result)["size"][2])


# --------------------------------------------------------------------------- SQLite


@pytest.fixture
def sqlite_project(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    frame = sample_frame(80)
    (tmp_path / "db").mkdir()
    with sqlite3.connect(tmp_path / "db" / "app.db") as conn:
        frame.assign(signup_at=frame["signup_at"].dt.strftime("%Y-%m-%d"),
                     active=frame["active"].astype(int)).to_sql("customers", conn, index=False)
    return tmp_path, frame


def test_ingest_sqlite_table_with_relative_url(mlw, sqlite_project) -> None:
    folder, frame = sqlite_project
    config = make_project(folder, {"url": "sqlite:///db/app.db", "table": "customers"})

    result = ok(ingest(mlw, config))

    assert result["info"]["rows"] == 80
    data = stored(result)
    assert list(data.columns) == list(frame.columns)
    expected = frame.assign(signup_at=frame["signup_at"].dt.strftime("%Y-%m-%d"), active=frame["active"].astype(int))
    assert_same_data(data, expected)
    assert_profile_matches(result["profile"], expected)
    assert result["inputs"][0]["source"] == {"type": "sql", "url": f"sqlite:///{folder / 'db' / 'app.db'}",
                                             "table": "customers", "query": None}


def test_ingest_sqlite_query(mlw, sqlite_project) -> None:
    folder, frame = sqlite_project
    query = "SELECT customer_id, amount FROM customers WHERE plan = 'pro' ORDER BY customer_id"
    config = make_project(folder, {"url": "sqlite:///db/app.db", "query": query})

    result = ok(ingest(mlw, config))

    expected = frame.loc[frame["plan"] == "pro", ["customer_id", "amount"]].reset_index(drop=True)
    assert result["info"]["rows"] == len(expected) > 0
    assert_same_data(stored(result), expected)


def test_ingest_sqlite_missing_file_is_not_created(mlw, tmp_path: Path) -> None:
    config = make_project(tmp_path, {"url": "sqlite:///db/missing.db", "table": "t"})

    assert_one_error(ingest(mlw, config), 3, "missing.db", "does not exist")
    assert not (tmp_path / "db" / "missing.db").exists()


@pytest.mark.parametrize("source, fragments", [
    ({"table": "nosuch"}, ["table 'nosuch'", "no such table: nosuch"]),
    ({"query": "SELEC * FROM customers"}, ["data.source.query", "syntax error"]),
    ({"query": "SELECT * FROM customers WHERE 0"}, ["returned no rows"]),
], ids=["unknown-table", "syntax-error", "no-rows"])
def test_ingest_sqlite_bad_read_is_a_data_error(mlw, sqlite_project, source: dict, fragments: list[str]) -> None:
    folder, _ = sqlite_project
    config = make_project(folder, {"url": "sqlite:///db/app.db", **source})

    assert_one_error(ingest(mlw, config), 3, *fragments)


# --------------------------------------------------------------------------- PostgreSQL

PG_ROWS = [
    # id, score, name, active, joined, visits (bigint), balance (numeric)
    (1, 0.5, "alice", True, "2024-01-02", 10_000_000_000, "12.50"),
    (2, None, "bob", False, "2024-02-03", 7, "0.10"),
    (None, 2.25, None, None, None, None, None),
    (4, -1.0, "dora smith", True, "2023-12-31", 0, "-3.00"),
]


@pytest.fixture(scope="module")
def pg_table(postgres_url):  # noqa: F811
    engine = sa.create_engine(postgres_url.real_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS customers"))
        conn.execute(sa.text("CREATE TABLE customers (id integer, score double precision, name text, "
                             "active boolean, joined date, visits bigint, balance numeric(10, 2))"))
        conn.execute(sa.text("INSERT INTO customers VALUES (:i, :s, :n, :a, CAST(:j AS date), :v, "
                             "CAST(:b AS numeric))"),
                     [dict(zip("isnajvb", row)) for row in PG_ROWS])
    engine.dispose()
    return postgres_url


@pytest.fixture
def pg_env(pg_table, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, pg_table.password)
    return pg_table


def test_ingest_postgres_table_keeps_types_and_values(mlw, tmp_path: Path, pg_env) -> None:
    config = make_project(tmp_path, {"url": pg_env.url, "table": "customers"})

    run = ingest(mlw, config)
    result = ok(run)

    table = pq.read_table(Path(result["path"]) / "data.parquet")
    assert {f.name: str(f.type) for f in table.schema} == {
        "id": "int64", "score": "double", "name": "string", "active": "bool", "joined": "date32[day]",
        "visits": "int64", "balance": "double"}
    import datetime as dt
    assert table.to_pylist() == [
        {"id": 1, "score": 0.5, "name": "alice", "active": True, "joined": dt.date(2024, 1, 2),
         "visits": 10_000_000_000, "balance": 12.5},
        {"id": 2, "score": None, "name": "bob", "active": False, "joined": dt.date(2024, 2, 3),
         "visits": 7, "balance": 0.1},
        {"id": None, "score": 2.25, "name": None, "active": None, "joined": None, "visits": None, "balance": None},
        {"id": 4, "score": -1.0, "name": "dora smith", "active": True, "joined": dt.date(2023, 12, 31),
         "visits": 0, "balance": -3.0},
    ]
    kinds = schema_kinds(result)
    assert kinds == {"id": "numeric", "score": "numeric", "name": "categorical", "active": "boolean",
                     "joined": "datetime", "visits": "numeric", "balance": "numeric"}
    profile = result["profile"]["columns"]
    assert profile["id"]["missing"] == 1 and profile["id"]["min"] == 1 and profile["id"]["max"] == 4
    assert profile["score"]["mean"] == pytest.approx((0.5 + 2.25 - 1.0) / 3)
    assert profile["joined"]["min"] == "2023-12-31"
    assert_password_hidden(mlw, config, pg_env.password, run, result)


def test_ingest_postgres_query(mlw, tmp_path: Path, pg_env) -> None:
    query = "SELECT id, name, score * 2 AS double_score FROM customers WHERE active ORDER BY id"
    config = make_project(tmp_path, {"url": pg_env.url, "query": query})

    run = ingest(mlw, config)
    result = ok(run)

    assert result["info"]["rows"] == 2
    assert stored(result).to_dict("list") == {"id": [1, 4], "name": ["alice", "dora smith"],
                                              "double_score": [1.0, -2.0]}
    assert result["inputs"][0]["source"]["query"] == query
    assert_password_hidden(mlw, config, pg_env.password, run, result)


def assert_password_hidden(mlw, config: Path, password: str, run, result: dict) -> None:
    manifest = (Path(result["path"]) / "manifest.json").read_text()
    assert "${MLW_TEST_PGPASSWORD}" in manifest and "***@" in manifest
    human = mlw("ingest", "-c", config)
    show = mlw("config", "show", "-c", config)
    show_json = mlw("config", "show", "-c", config, "--json")
    lineage = mlw("artifacts", "lineage", "ingest/latest", "-c", config)
    shown = mlw("artifacts", "show", "ingest/latest", "-c", config)
    assert show.exit_code == 0 and "${MLW_TEST_PGPASSWORD}" in show.stdout
    assert lineage.exit_code == 0 and shown.exit_code == 0
    for text in (run.stdout, run.stderr, manifest, human.stdout, human.stderr, show.stdout, show.stderr,
                 show_json.stdout, lineage.stdout, lineage.stderr, shown.stdout, shown.stderr):
        assert password not in text


@pytest.mark.parametrize("source, fragments", [
    ({"table": "nosuch"}, ["table 'nosuch'", 'relation "nosuch" does not exist']),
    ({"table": "public.nosuch"}, ["table 'public.nosuch'", 'relation "public.nosuch" does not exist']),
    ({"query": "SELEC * FROM customers"}, ["data.source.query", 'syntax error at or near "SELEC"']),
], ids=["unknown-table", "unknown-schema-table", "syntax-error"])
def test_ingest_postgres_bad_read_is_a_data_error(mlw, tmp_path: Path, pg_env, source, fragments) -> None:
    config = make_project(tmp_path, {"url": pg_env.url, **source})

    text = assert_one_error(ingest(mlw, config), 3, *fragments, "postgresql://mlw:***@")
    assert pg_env.password not in text


def test_ingest_postgres_schema_qualified_table(mlw, tmp_path: Path, pg_env) -> None:
    config = make_project(tmp_path, {"url": pg_env.url, "table": "public.customers"})

    assert ok(ingest(mlw, config))["info"]["rows"] == len(PG_ROWS)


def test_ingest_postgres_wrong_password_is_a_data_error(mlw, tmp_path: Path, pg_env, monkeypatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    config = make_project(tmp_path, {"url": pg_env.url, "table": "customers"})

    text = assert_one_error(ingest(mlw, config), 3, f"Could not connect to postgresql://mlw:***@127.0.0.1:"
                                                    f"{pg_env.port}/mlwtest", "password authentication failed")
    assert "not-the-password" not in text


def test_ingest_postgres_unknown_database_is_a_connection_error(mlw, tmp_path: Path, pg_env) -> None:
    url = pg_env.url.replace("/mlwtest", "/nosuchdb")
    config = make_project(tmp_path, {"url": url, "table": "customers"})

    assert_one_error(ingest(mlw, config), 3, "Could not connect to", 'database "nosuchdb" does not exist',
                     "database name")


def test_ingest_sql_connection_refused_is_a_data_error(mlw, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "s3cret-pw")
    port = free_port()  # nothing listens there
    config = make_project(tmp_path, {"url": f"postgresql://mlw:${{{PASSWORD_ENV}}}@127.0.0.1:{port}/db",
                                     "table": "t"})

    text = assert_one_error(ingest(mlw, config), 3, f"Could not connect to postgresql://mlw:***@127.0.0.1:{port}/db",
                            "Connection refused")
    assert "s3cret-pw" not in text


@pytest.mark.parametrize("source, fragment", [
    ({"type": "sql", "url": "sqlite:///x.db"}, "exactly one of 'table' or 'query'"),
    ({"url": "sqlite:///x.db", "table": "t", "query": "SELECT 1"}, "exactly one of 'table' or 'query'"),
    ({"type": "sql", "table": "t"}, "needs 'url'"),
], ids=["neither", "both", "no-url"])
def test_ingest_sql_config_shape_is_a_usage_error(mlw, tmp_path: Path, source: dict, fragment: str) -> None:
    run = ingest(mlw, make_project(tmp_path, source))

    assert run.exit_code == 2, run.stderr
    assert fragment in run.stderr and "data.source" in run.stderr and "Traceback" not in run.stderr


# --------------------------------------------------------------------------- unreadable files


def _garbage(path: Path) -> None:
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes())


@pytest.mark.parametrize("name, content, fragments", [
    ("missing.csv", None, ["Source file", "missing.csv' does not exist"]),
    ("empty.csv", b"", ["empty.csv' is empty"]),
    ("header.csv", b"a,b,c\n", ["header.csv has no data rows"]),
    ("garbage.csv", _garbage, ["Could not read", "garbage.csv' as csv"]),
    ("bad.json", b'[{"a": 1}, {"a": 2', ["Could not read", "bad.json' as json"]),
    ("bad.jsonl", b'{"a": 1}\n{"a": \n', ["Could not read", "bad.jsonl' as jsonl"]),
    ("bad.parquet", b"PAR1 not really parquet", ["Could not read", "bad.parquet' as parquet"]),
    ("bad.xlsx", b"not a zip file at all", ["Could not read", "bad.xlsx' as excel"]),
], ids=lambda v: v if isinstance(v, str) else None)
def test_ingest_unreadable_file_is_a_data_error(mlw, tmp_path: Path, name: str, content, fragments) -> None:
    path = tmp_path / name
    if callable(content):
        content(path)
    elif content is not None:
        path.write_bytes(content)

    assert_one_error(ingest(mlw, make_project(tmp_path, {"path": name})), 3, *fragments)


def test_ingest_missing_file_suggests_a_near_name(mlw, tmp_path: Path) -> None:
    sample_frame(5).to_csv(tmp_path / "customers.csv", index=False)

    assert_one_error(ingest(mlw, make_project(tmp_path, {"path": "customer.csv"})), 3,
                     "Did you mean 'customers.csv'?")


def test_ingest_glob_matching_nothing_is_a_data_error(mlw, tmp_path: Path) -> None:
    assert_one_error(ingest(mlw, make_project(tmp_path, {"path": "data/*.csv"})), 3, "matches no files")


# --------------------------------------------------------------------------- append


@pytest.fixture
def append_project(tmp_path: Path) -> Path:
    first = sample_frame(5, seed=1)
    first.to_csv(tmp_path / "batch1.csv", index=False)
    batch2 = sample_frame(4, seed=2, start_id=4)  # ids 4..7: 4 and 5 are updates
    batch2.to_csv(tmp_path / "batch2.csv", index=False)
    return make_project(tmp_path, {"path": "batch1.csv"}, id_columns=["customer_id"])


def test_ingest_append_keeps_newest_row_per_id(mlw, append_project: Path) -> None:
    folder = append_project.parent
    first = ok(ingest(mlw, append_project))

    run = ingest(mlw, append_project, "--append", "--set", "data.source.path=batch2.csv")
    second = ok(run)

    old, new = pd.read_csv(folder / "batch1.csv"), pd.read_csv(folder / "batch2.csv")
    expected = pd.concat([old[old["customer_id"] <= 3], new], ignore_index=True)
    expected["signup_at"] = pd.to_datetime(expected["signup_at"])
    assert_same_data(stored(second), expected)
    assert second["info"]["mode"] == "append"
    assert second["info"]["batch"] == {"rows": 4, "previous": first["version"], "previous_rows": 5, "replaced": 2,
                                       "first_row": 3}
    # the batch's rows come last, from first_row on (what `mlw monitor --batch` reads)
    assert stored(second).iloc[3:]["customer_id"].tolist() == new["customer_id"].tolist()
    assert_profile_matches(second["profile"], expected)

    manifest = json.loads((Path(second["path"]) / "manifest.json").read_text())
    previous = [i for i in manifest["inputs"] if i.get("stage") == "ingest"]
    external = [i for i in manifest["inputs"] if i.get("external")]
    assert [i["version"] for i in previous] == [first["version"]]
    assert [Path(f["path"]).name for f in external[0]["source"]["files"]] == ["batch2.csv"]

    lineage = mlw("artifacts", "lineage", "ingest/latest", "-c", append_project, "--json")
    tree = ok(lineage)
    assert tree["version"] == second["version"]
    children = {c.get("version", "external") for c in tree["inputs"]}
    assert children == {first["version"], "external"}
    human = mlw("artifacts", "lineage", "ingest/latest", "-c", append_project)
    assert human.exit_code == 0
    for text in (first["version"], second["version"], "batch1.csv", "batch2.csv"):
        assert text in human.stdout


def test_ingest_append_batch_with_other_columns_is_a_data_error(mlw, append_project: Path) -> None:
    folder = append_project.parent
    ok(ingest(mlw, append_project))
    pd.read_csv(folder / "batch2.csv").drop(columns=["plan"]).assign(region="north") \
        .to_csv(folder / "batch3.csv", index=False)

    run = ingest(mlw, append_project, "--append", "--set", "data.source.path=batch3.csv")

    assert_one_error(run, 3, "does not have the columns of ingest/", "missing ['plan']", "unexpected ['region']")


def test_ingest_append_without_previous_snapshot_takes_one(mlw, append_project: Path) -> None:
    result = ok(ingest(mlw, append_project, "--append"))

    assert result["info"]["rows"] == 5 and [i for i in result["inputs"] if "stage" in i] == []


# --------------------------------------------------------------------------- cache


def test_ingest_unchanged_file_is_cached(mlw, tmp_path: Path) -> None:
    sample_frame(30).to_csv(tmp_path / "data.csv", index=False)
    config = make_project(tmp_path, {"path": "data.csv"})
    first = ok(ingest(mlw, config))

    again = mlw("ingest", "-c", config)
    as_json = ok(ingest(mlw, config))

    assert again.exit_code == 0 and "cached" in again.stderr and first["version"] in again.stderr
    assert as_json["cached"] is True and as_json["version"] == first["version"]


def test_ingest_changed_file_or_force_makes_a_new_version(mlw, tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    sample_frame(30).to_csv(path, index=False)
    config = make_project(tmp_path, {"path": "data.csv"})
    first = ok(ingest(mlw, config))

    sample_frame(31).to_csv(path, index=False)
    changed = ok(ingest(mlw, config))
    forced = ok(ingest(mlw, config, "--force"))

    assert not changed["cached"] and changed["version"] != first["version"] and changed["info"]["rows"] == 31
    assert not forced["cached"] and forced["version"] not in (first["version"], changed["version"])


def test_ingest_sql_is_never_cached(mlw, sqlite_project) -> None:
    folder, _ = sqlite_project
    config = make_project(folder, {"url": "sqlite:///db/app.db", "table": "customers"})

    first, second = ok(ingest(mlw, config)), ok(ingest(mlw, config))

    assert not second["cached"] and second["version"] != first["version"]


# --------------------------------------------------------------------------- sources.py units


@pytest.mark.parametrize("url, shown", [
    ("postgresql://mlw:pa:ss@db:5432/x", "postgresql://mlw:***@db:5432/x"),
    ("postgresql+psycopg://u:p@h/db?sslmode=require", "postgresql+psycopg://u:***@h/db?sslmode=require"),
    ("postgresql://u@h/db", "postgresql://u@h/db"),
    ("postgresql://h/db?user=u&password=p&sslmode=require", "postgresql://h/db?user=u&password=***&sslmode=require"),
    ("sqlite:///data/app.db", "sqlite:///data/app.db"),
])
def test_redact_url_hides_only_the_password(url: str, shown: str) -> None:
    assert sources.redact_url(url) == shown


def test_describe_sql_redacts_password() -> None:
    source = SourceConfig(url="postgresql://u:hunter2@h/db", table="t")

    assert sources.describe(source) == {"type": "sql", "url": "postgresql://u:***@h/db", "table": "t", "query": None}


def test_rows_to_table_types_columns_and_keeps_mixed_ones_as_text() -> None:
    from decimal import Decimal

    table = readers._rows_to_table(["i", "mixed", "money", "empty"],
                                   [(1, 1, Decimal("1.50"), None), (None, "x", Decimal("2"), None)])

    assert [str(t) for t in table.schema.types] == ["int64", "string", "double", "null"]
    assert table.to_pydict() == {"i": [1, None], "mixed": ["1", "x"], "money": [1.5, 2.0], "empty": [None, None]}


def test_concat_chunks_widens_or_falls_back_to_text() -> None:
    chunks = [pa.table({"a": [1], "b": [None], "c": [1]}), pa.table({"a": [1.5], "b": ["x"], "c": ["y"]})]

    table = readers._concat_chunks(chunks)

    assert [str(t) for t in table.schema.types] == ["double", "string", "string"]
    assert table.to_pydict() == {"a": [1.0, 1.5], "b": [None, "x"], "c": ["1", "y"]}


def test_read_batches_csv_reports_progress_in_bytes(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    sample_frame(50).to_csv(path, index=False)
    seen: list[float] = []

    batches = list(readers.read_batches(SourceConfig(path=str(path)), 1 << 20, seen.append))

    assert sum(b.num_rows for b in batches) == 50
    assert sum(seen) == path.stat().st_size


def test_read_batches_csv_asks_to_retype_a_column(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("a,b\n" + "".join(f"{i},{i}\n" for i in range(200_000)) + "x,1.5\n")
    source = SourceConfig(path=str(path))

    with pytest.raises(readers.RetypeNeeded) as first:
        list(readers.read_batches(source, 1 << 20, lambda n: None))
    assert (first.value.column, first.value.type) == ("a", pa.string())  # 'x' is no number
    with pytest.raises(readers.RetypeNeeded) as second:
        list(readers.read_batches(source, 1 << 20, lambda n: None, {"a": pa.string()}))
    assert (second.value.column, second.value.type) == ("b", pa.float64())
    table = pa.concat_tables(pa.Table.from_batches([b]) for b in readers.read_batches(
        source, 1 << 20, lambda n: None, {"a": pa.string(), "b": pa.float64()}))
    assert table.num_rows == 200_001 and table.column("b")[-1].as_py() == 1.5


def test_source_files_missing_file_raises_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        sources.source_files(SourceConfig(path=str(tmp_path / "nope.csv")))
