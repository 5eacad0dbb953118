"""`mlw ingest`: profile and schema values, streaming in blocks, and crash safety (a killed
or interrupted stage leaves no partial version and never damages an earlier one)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlflow_cli.core.store import Store

from ..conftest import DATA, write_config


def test_ingest_profile_matches_pandas(mlw, churn_project):
    result = mlw("ingest", "-c", churn_project, "--json")
    assert result.exit_code == 0, result.stderr
    profile = result.json()["profile"]
    raw = pd.read_csv(DATA / "churn.csv")
    assert profile["rows"] == len(raw)
    for name in raw.columns:
        column = profile["columns"][name]
        assert column["missing_share"] == pytest.approx(raw[name].isna().mean(), abs=1e-6), name
        assert column["distinct"] == raw[name].nunique(), name
    charges = profile["columns"]["monthly_charges"]
    assert charges["mean"] == pytest.approx(raw["monthly_charges"].mean())
    assert charges["std"] == pytest.approx(raw["monthly_charges"].std())
    assert charges["min"] == raw["monthly_charges"].min() and charges["max"] == raw["monthly_charges"].max()
    assert profile["columns"]["plan"]["top"][0] == ["basic", int((raw["plan"] == "basic").sum())]


def test_ingest_schema_kinds_and_categories(mlw, churn_project):
    version = mlw("ingest", "-c", churn_project, "--json").json()["version"]
    folder = churn_project.parent / "artifacts" / "churn" / "ingest" / version
    schema = json.loads((folder / "schema.json").read_text())["columns"]
    kinds = {name: col["kind"] for name, col in schema.items()}
    assert kinds == {"customer_id": "categorical", "signup_date": "datetime", "plan": "categorical",
                     "region": "categorical", "tenure_months": "numeric", "monthly_charges": "numeric",
                     "total_charges": "numeric", "support_calls": "numeric", "autopay": "categorical",
                     "last_ticket": "text", "churned": "categorical"}
    assert schema["plan"]["categories"] == ["basic", "premium", "standard"]
    assert schema["plan"]["nullable"] is True and schema["region"]["nullable"] is False
    assert "categories" not in schema["customer_id"]  # 1,990 values: too many to be a category list
    stored = pd.read_parquet(folder / "data.parquet")
    source = pd.read_csv(DATA / "churn.csv")
    source["signup_date"] = pd.to_datetime(source["signup_date"]).dt.date  # stored as a date column
    pd.testing.assert_frame_equal(stored, source, check_dtype=False)  # every row and value, in order


def test_ingest_streams_in_blocks_and_merges_statistics(mlw, tmp_path):
    rng = np.random.default_rng(3)
    n = 120_000
    frame = pd.DataFrame({"a": rng.normal(50, 5, n), "b": rng.integers(0, 1000, n),
                          "c": rng.choice(["x", "y", "z"], n), "t": rng.choice([0, 1], n)})
    frame.loc[rng.choice(n, 5000, replace=False), "a"] = np.nan
    frame.to_csv(tmp_path / "big.csv", index=False)
    assert (tmp_path / "big.csv").stat().st_size > 2 << 20
    config = write_config(tmp_path, {"project": "p", "data": {"source": {"path": "big.csv"}, "target": "t"},
                                     "ingest": {"block_size_mb": 1, "stream_above_mb": 0}})
    result = mlw("ingest", "-c", config, "--json")
    assert result.exit_code == 0, result.stderr
    profile = result.json()["profile"]["columns"]
    assert profile["a"]["mean"] == pytest.approx(frame["a"].mean(), rel=1e-12)
    assert profile["a"]["std"] == pytest.approx(frame["a"].std(), rel=1e-9)
    assert profile["a"]["missing_share"] == pytest.approx(5000 / n, abs=1e-6)
    assert profile["b"]["distinct"] == frame["b"].nunique()
    parquet = Path(result.json()["path"]) / "data.parquet"
    import pyarrow.parquet as pq

    assert pq.ParquetFile(parquet).num_row_groups > 1  # written block by block
    pd.testing.assert_frame_equal(pd.read_parquet(parquet), frame, check_dtype=False)


def test_ingest_reads_and_writes_the_snapshot_through_the_engine(mlw, tmp_path, monkeypatch):
    """engine/: the snapshot's parts come from the engine's read_parts and go out through its
    writer, so another engine (Dask) takes ingest over by being named."""
    from mlflow_cli.engine.local import LocalEngine

    pd.DataFrame({"a": range(50_000), "t": [0, 1] * 25_000}).to_csv(tmp_path / "d.csv", index=False)
    config = write_config(tmp_path, {"project": "p", "data": {"source": {"path": "d.csv"}, "target": "t"},
                                     "ingest": {"block_size_mb": 1, "stream_above_mb": 0}})
    seen = {"rows": 0, "written": []}
    read, writer = LocalEngine.read_parts, LocalEngine.writer

    def counting_read(self, *args, **kwargs):
        for part in read(self, *args, **kwargs):
            seen["rows"] += part.table.num_rows
            yield part

    def recording_writer(self, path, *args, **kwargs):
        seen["written"].append(path.name)
        return writer(self, path, *args, **kwargs)

    monkeypatch.setattr(LocalEngine, "read_parts", counting_read)
    monkeypatch.setattr(LocalEngine, "writer", recording_writer)
    result = mlw("ingest", "-c", config, "--json")
    assert result.exit_code == 0, result.stderr
    assert seen == {"rows": 50_000, "written": ["data.parquet"]}
    assert pd.read_parquet(Path(result.json()["path"]) / "data.parquet")["a"].tolist() == list(range(50_000))


# ------------------------------------------------------------------ crash safety


@pytest.fixture
def big_project(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    n = 400_000
    frame = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(8)})
    frame["label"] = rng.choice(["a", "b"], n)
    frame.to_csv(tmp_path / "big.csv", index=False)
    frame.head(100).to_csv(tmp_path / "small.csv", index=False)
    return write_config(tmp_path, {"project": "p", "data": {"source": {"path": "small.csv"}, "target": "label"},
                                   "ingest": {"block_size_mb": 1, "stream_above_mb": 0}})


def _start_and_wait_mid_write(config: Path) -> tuple[subprocess.Popen, Path]:
    stage = config.parent / "artifacts" / "p" / "ingest"
    proc = subprocess.Popen([sys.executable, "-m", "mlflow_cli", "ingest", "-c", str(config),
                             "--set", "data.source.path=big.csv"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        partial = [p for p in stage.glob(".tmp-*/data.parquet") if p.stat().st_size > 0]
        if partial:
            return proc, partial[0].parent
        if proc.poll() is not None:
            pytest.fail(f"ingest ended before it was interrupted: {proc.stderr.read()}")
        time.sleep(0.005)
    proc.kill()
    pytest.fail("ingest never started writing")


def _assert_store_intact(config: Path, before: str) -> None:
    store = Store(config.parent / "artifacts", "p")
    assert store.versions("ingest") == [before]
    assert store.latest("ingest") == before
    assert store.verify("ingest", before) == []


def test_ingest_killed_mid_write_leaves_no_partial_version(mlw, big_project):
    before = mlw("ingest", "-c", big_project, "--json").json()["version"]
    proc, tmp = _start_and_wait_mid_write(big_project)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    _assert_store_intact(big_project, before)
    assert tmp.exists()  # SIGKILL allows no cleanup: the hidden folder stays, invisible to readers
    result = mlw("prepare", "-c", big_project, "--json")
    assert result.exit_code == 0 and result.json()["info"]["source"] == f"ingest/{before}"
    gc = mlw("artifacts", "gc", "--keep", "5", "-c", big_project, "--json").json()
    assert gc["temporary"] == [f"ingest/{tmp.name}"]
    assert not tmp.exists()
    _assert_store_intact(big_project, before)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ingest_interrupted_cleans_up_and_exits_130(mlw, big_project, signum):
    before = mlw("ingest", "-c", big_project, "--json").json()["version"]
    proc, tmp = _start_and_wait_mid_write(big_project)
    os.kill(proc.pid, signum)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Interrupted" in stderr and "Traceback" not in stderr
    assert not tmp.exists()
    _assert_store_intact(big_project, before)


def test_ingest_whole_file_read_infers_types_from_all_rows(mlw, tmp_path):
    """Below stream_above_mb the CSV is read whole: a late text value makes the column text
    (no retry, no warning) and a late fraction makes an int column float."""
    rows = ["code,amount,label"] + [f"{i},{i},{'ab'[i % 2]}" for i in range(50_000)] + ["X1,0.5,a"]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    config = write_config(tmp_path, {"project": "p", "data": {"source": {"path": "d.csv"}, "target": "label"},
                                     "ingest": {"block_size_mb": 1}})
    result = mlw("ingest", "-c", config, "--json")
    assert result.exit_code == 0, result.stderr
    columns = result.json()["profile"]["columns"]
    assert columns["code"]["type"] == "string"
    assert columns["amount"]["type"] == "double"
    assert result.json()["warnings"] == []
    assert result.json()["info"]["read_as_text"] == []
