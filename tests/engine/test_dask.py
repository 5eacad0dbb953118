"""engine/dask.py and the stages on it (`engine.type: dask`): the same config run on a local
cluster and in one process gives the same prepared data and split, XGBoost within 0.005 AUC
(trained with xgboost.dask on the workers, saved as the plain estimator), the same predictions
and monitoring statistics; no worker outlives a command however it ends; a separately started
scheduler with two workers runs it too; mistakes are exit 2 with the fix."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ..conftest import run_mlw, write_config

ROWS = 30_000
CLUSTER = {"type": "dask", "n_workers": 2, "threads_per_worker": 1, "partition_mb": 0.25}


def _data(folder: Path, rows: int = ROWS) -> Path:
    """A binary problem with numeric and categorical columns and an id."""
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=rows, n_features=10, n_informative=6, flip_y=0.05, random_state=0)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(10)])
    frame.insert(0, "id", np.arange(rows))
    frame["colour"] = np.random.default_rng(0).choice(["red", "green", "blue"], rows)
    frame["churned"] = np.where(y == 1, "yes", "no")
    path = folder / "data.csv"
    frame.to_csv(path, index=False)
    return path


def _config(folder: Path, data: Path, engine: dict, name: str, **train: object) -> Path:
    return write_config(folder, {
        "project": "syn", "artifacts": f"art_{name}",
        "data": {"source": {"path": str(data)}, "target": "churned", "id_columns": ["id"]},
        "prepare": {"split": {"test_size": 0.2, "seed": 42}},
        "train": {"model": "xgboost", "params": {"n_estimators": 100}, **train},
        "engine": engine,
    }, f"{name}.yaml")


def _version(config: Path, stage: str) -> Path:
    root = config.parent / f"art_{config.stem}" / "syn" / stage
    return root / (root / "latest").read_text().strip()


def _marked(mark: str) -> list[int]:
    """Processes whose environment holds MLW_TEST_MARK=mark (a command's workers inherit it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if f"MLW_TEST_MARK={mark}".encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _gone(mark: str, within: float = 15.0) -> list[int]:
    deadline = time.monotonic() + within
    while (left := _marked(mark)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """The same project run with engine: local and engine: dask (mlw run, then predict and
    monitor of each engine's own model and of the local model)."""
    folder = tmp_path_factory.mktemp("engines")
    data = _data(folder)
    local = _config(folder, data, {"type": "local"}, "local")
    dask = _config(folder, data, CLUSTER, "dask")
    runs = {}
    for config in (local, dask):
        mark = uuid.uuid4().hex
        runs[config.stem] = run_mlw("run", "-c", config, "--json", env={"MLW_TEST_MARK": mark})
        runs[config.stem + "_left"] = _gone(mark)
    model = _version(local, "train").name
    for config in (local, dask):
        runs[f"predict_{config.stem}"] = run_mlw("predict", "-c", config, "--input", data, "--output",
                                                 folder / f"scored_{config.stem}.parquet", "--model", model,
                                                 "--set", f"artifacts={folder / 'art_local'}")
        runs[f"monitor_{config.stem}"] = run_mlw("monitor", "-c", config, "--input", data, "--json",
                                                 "--set", f"artifacts={folder / 'art_local'}",
                                                 "--set", f"monitor.model={model}")
    return folder, local, dask, runs


def test_dask_run_gives_the_same_split_and_schema_and_auc_within_0_005(both):
    folder, local, dask, runs = both
    for name in ("local", "dask"):
        assert runs[name].exit_code == 0, runs[name].stderr
    assert runs["dask"].stderr.count("Dask: a local cluster of 2 workers x 1 threads") == 1  # one for all stages
    assert "Dask" not in runs["local"].stderr
    assert json.loads(runs["dask"].stdout)  # stdout stays one JSON document (the workers print nothing on it)
    a, b = _version(local, "prepare"), _version(dask, "prepare")
    assert json.loads((a / "schema.json").read_text()) == json.loads((b / "schema.json").read_text())
    for split in ("train", "test"):
        assert pd.read_parquet(a / f"{split}.parquet")["id"].tolist() == pd.read_parquet(b / f"{split}.parquet")["id"].tolist()
    import pyarrow.parquet as pq

    assert pq.ParquetFile(b / "train.parquet").metadata.num_row_groups >= 4  # partitions for the workers
    auc = {name: json.loads((_version(c, "evaluate") / "metrics.json").read_text())["test"]["roc_auc"]
           for name, c in (("local", local), ("dask", dask))}
    assert auc["local"] > 0.9 and abs(auc["local"] - auc["dask"]) <= 0.005, auc


def test_the_cluster_model_is_plain_xgboost_in_the_same_pipeline(both):
    import joblib
    import xgboost
    from sklearn.pipeline import Pipeline

    _, local, dask, _ = both
    model = joblib.load(_version(dask, "train") / "model.joblib")
    assert isinstance(model, Pipeline) and type(model.named_steps["model"].estimator) is xgboost.XGBClassifier
    assert list(model.classes_) == ["no", "yes"]
    info = json.loads((_version(dask, "train") / "manifest.json").read_text())
    alone = json.loads((_version(local, "train") / "manifest.json").read_text())
    assert info["config"]["engine"] == "dask" and "engine" not in alone["config"]  # not one cache entry
    assert info["info"]["feature_names"] == alone["info"]["feature_names"]
    assert info["info"]["params"]["n_estimators"] == 100
    booster = model.named_steps["model"].estimator.get_booster()
    assert booster.num_boosted_rounds() == 100
    plain = joblib.load(_version(local, "train") / "model.joblib")  # the same preprocessing, fitted once
    rows = pd.read_parquet(_version(dask, "prepare") / "test.parquet").head(50)
    dense = lambda m: np.asarray(getattr(m, "toarray", lambda: m)())  # noqa: E731
    assert np.array_equal(dense(model.named_steps["preprocess"].transform(rows)),
                          dense(plain.named_steps["preprocess"].transform(rows)))


def test_predict_and_monitor_on_the_workers_give_what_one_process_gives(both):
    folder, _, _, runs = both
    for name in ("predict_local", "predict_dask", "monitor_local", "monitor_dask"):
        assert runs[name].exit_code == 0, (name, runs[name].stderr)
    assert "Dask: a local cluster" in runs["predict_dask"].stderr
    local = pd.read_parquet(folder / "scored_local.parquet")
    dask = pd.read_parquet(folder / "scored_dask.parquet")
    assert len(local) == ROWS and local.equals(dask)  # every row, in source order, the same scores
    a, b = runs["monitor_local"].json(), runs["monitor_dask"].json()
    assert a["metrics"] == b["metrics"] and a["metrics"]["accuracy"] > 0.9
    assert a["info"]["rows"] == b["info"]["rows"] == ROWS


def test_a_model_that_cannot_train_on_parts_is_fitted_here_with_a_warning(both):
    _, _, dask, _ = both
    done = run_mlw("train", "-c", dask, "--set", "train.model=logistic_regression", "--set", "train.params={}",
                   "--set", "train.cv=2")
    assert done.exit_code == 0, done.stderr
    assert "LogisticRegression cannot train on partitioned data" in done.stderr
    assert "fitted in this process on the 24,000 training rows" in done.stderr
    assert "Dask: a local cluster" in done.stderr  # its two folds went to the workers
    info = json.loads((_version(dask, "train") / "manifest.json").read_text())["info"]
    assert info["cv"]["roc_auc"]["mean"] > 0.8


def test_no_worker_outlives_a_command_that_succeeds_or_fails(both):
    folder, _, dask, runs = both
    assert runs["dask_left"] == []  # the module's mlw run
    mark = uuid.uuid4().hex
    bad = run_mlw("train", "-c", dask, "--force", "--set", "train.params.max_depth=-3",
                  env={"MLW_TEST_MARK": mark})
    assert bad.exit_code == 2, bad.stderr
    assert "XGBoost" in bad.stderr and "Traceback" not in bad.stderr
    assert _gone(mark) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_stop_the_workers_and_keep_no_half_version(tmp_path, sig):
    data = _data(tmp_path, rows=60_000)
    config = _config(tmp_path, data, {**CLUSTER, "partition_mb": 0.05}, "stopped",
                     params={"n_estimators": 3000, "learning_rate": 0.01})
    assert run_mlw("run", "-c", config, "--until", "prepare").exit_code == 0
    mark = uuid.uuid4().hex
    proc = subprocess.Popen([sys.executable, "-m", "mlflow_cli", "train", "-c", str(config)],
                            env={**os.environ, "MLW_TEST_MARK": mark}, stderr=subprocess.PIPE, text=True)
    line = ""
    deadline = time.monotonic() + 60
    while "dashboard" not in line and time.monotonic() < deadline:
        line = proc.stderr.readline()
    port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))
    assert len(_marked(mark)) >= 3  # mlw and its two workers (and their nannies)
    time.sleep(3)  # the workers are training
    proc.send_signal(sig)
    rest = proc.stderr.read()
    assert proc.wait(timeout=60) == 130, rest
    assert "Interrupted" in rest and "Traceback" not in rest
    assert _gone(mark) == [] and not _listening(port)
    assert not (tmp_path / "art_stopped" / "syn" / "train").exists() or \
        not [p for p in (tmp_path / "art_stopped" / "syn" / "train").iterdir() if p.name != "latest"]


def test_a_separately_started_scheduler_and_two_workers_run_it(tmp_path):
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    bin_dir = Path(sys.executable).parent
    dask_cli = [str(bin_dir / "dask")] if (bin_dir / "dask").exists() else [sys.executable, "-m", "distributed.cli.dask"]
    scheduler = subprocess.Popen([*dask_cli, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                  "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = [subprocess.Popen([*dask_cli, "worker", address, "--nthreads", "1", "--no-dashboard",
                                 "--host", "127.0.0.1", "--memory-limit", "2GB"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
    try:
        from distributed import Client

        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        data = _data(tmp_path, rows=8_000)
        config = _config(tmp_path, data, {"type": "dask", "address": address, "partition_mb": 0.1}, "remote")
        done = run_mlw("run", "-c", config)
        assert done.exit_code == 0, done.stderr
        assert f"Dask: connected to {address} (2 workers)" in done.stderr
        auc = json.loads((_version(config, "evaluate") / "metrics.json").read_text())["test"]["roc_auc"]
        assert auc > 0.9
        assert scheduler.poll() is None and all(w.poll() is None for w in workers)  # only disconnected from
    finally:
        for proc in [*workers, scheduler]:
            proc.terminate()
        for proc in [*workers, scheduler]:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_engine_mistakes_are_exit_2_with_the_fix(tmp_path):
    data = _data(tmp_path, rows=500)
    cases = [
        ({"type": "local", "n_workers": 2}, "n_workers apply to type: dask"),
        ({"type": "dask", "address": "localhost:8786"}, "write it as tcp://host:8786"),
        ({"type": "dask", "address": "tcp://127.0.0.1:8786", "n_workers": 2}, "not to the scheduler at engine.address"),
        ({"type": "dask", "memory_limit": "lots"}, "memory_limit"),
    ]
    for engine, expected in cases:
        done = run_mlw("config", "validate", "-c", _config(tmp_path, data, engine, "bad"))
        assert done.exit_code == 2 and expected in done.stderr, (engine, done.stderr)
        assert "Traceback" not in done.stderr
    nobody = f"tcp://127.0.0.1:{_free_port()}"
    config = _config(tmp_path, data, {"type": "dask", "address": nobody}, "nobody")
    assert run_mlw("run", "-c", config, "--until", "prepare").exit_code == 0
    done = run_mlw("train", "-c", config)
    assert done.exit_code == 2 and f"no Dask scheduler answered at {nobody}" in done.stderr, done.stderr


def test_naming_dask_without_the_extra_says_what_to_install(tmp_path):
    """`distributed` made unimportable, as in an environment without mlw[dask]."""
    blocker = tmp_path / "blocker"
    (blocker / "distributed").mkdir(parents=True)
    (blocker / "distributed" / "__init__.py").write_text("raise ImportError('no dask here')\n")
    data = _data(tmp_path, rows=500)
    config = _config(tmp_path, data, {"type": "dask"}, "noextra")
    done = run_mlw("run", "-c", config, env={"PYTHONPATH": str(blocker)})
    assert done.exit_code == 2, done.stderr
    assert "Dask is not installed" in done.stderr and "pip install 'mlw[dask]'" in done.stderr
