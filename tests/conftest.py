"""Shared fixtures: run the real `mlw` (in-process with typer's CliRunner, or as a
subprocess), and make small projects from the shipped sample data."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mlflow_cli.cli import app

# model: auto compares its candidates' defaults only (3 folds, no tuning) unless a test sets
# train.time_budget_s: the suite stays fast, and the same on every machine. mlw subprocesses inherit it.
os.environ.setdefault("MLW_TIME_BUDGET_S", "0")
# pytest-xdist's workers inherit COLUMNS=80 and LINES=24 from its terminal emulation; mlw's output
# (in-process and in subprocesses) must be what a pipe gets without them, as in a plain pytest run.
if "PYTEST_XDIST_WORKER" in os.environ:
    for name in ("COLUMNS", "LINES"):
        os.environ.pop(name, None)

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


@pytest.fixture
def mlw():
    """Invoke mlw in-process: mlw("ingest", "-c", path) -> Run(exit_code, stdout, stderr)."""
    runner = CliRunner()

    def invoke(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> Run:
        old = os.getcwd()
        if cwd:
            os.chdir(cwd)
        try:
            result = runner.invoke(app, [str(a) for a in args], env=env, catch_exceptions=False)
        finally:
            os.chdir(old)
        return Run(result.exit_code, result.stdout, result.stderr)

    return invoke


def run_mlw(*args: object, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 300) -> Run:
    """Run mlw as a real subprocess (the installed console script's module)."""
    proc = subprocess.run([sys.executable, "-m", "mlflow_cli", *map(str, args)], cwd=cwd,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout)
    return Run(proc.returncode, proc.stdout, proc.stderr)


def imports_of_mlw(args: list[object], modules: tuple[str, ...]) -> tuple[list[str], str]:
    """Run mlw in a fresh interpreter; (those of `modules` it imported, its stderr). It must succeed."""
    code = ("import sys\n"
            "from mlflow_cli.cli import app\n"
            f"sys.argv = ['mlw', *{[str(a) for a in args]!r}]\n"
            "try:\n    app()\nexcept SystemExit as e:\n    assert e.code in (0, None), e.code\n"
            "finally:\n"
            f"    print('IMPORTED=' + ','.join(m for m in {modules!r} if m in sys.modules), file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    line = next((line for line in proc.stderr.splitlines() if line.startswith("IMPORTED=")), None)
    assert proc.returncode == 0 and line is not None, proc.stderr
    return [m for m in line.removeprefix("IMPORTED=").split(",") if m], proc.stderr


@pytest.fixture
def mlw_process():
    """Invoke mlw as a real subprocess: mlw_process("run", "-c", path) -> Run."""
    return run_mlw


def promoted_churn_project(folder: Path, **settings: object) -> Path:
    """A churn project in `folder` whose logistic regression is trained, promoted to `production`
    and evaluated (three real mlw processes); `settings` are extra top-level config sections."""
    (folder / "data").mkdir()
    shutil.copy(DATA / "churn.csv", folder / "data" / "churn.csv")
    config = write_config(folder, {
        "project": "churn",
        "data": {"source": {"path": "data/churn.csv"}, "target": "churned", "id_columns": ["customer_id"]},
        "prepare": {"split": {"test_size": 0.2, "seed": 42}},
        **settings,
    })
    for args in (["run", "-c", config, "--until", "train", "--set", "train.model=logistic_regression"],
                 ["models", "promote", "latest", "-c", config],
                 ["evaluate", "-c", config]):
        done = run_mlw(*args)
        assert done.exit_code == 0, done.stderr
    return config


def write_config(folder: Path, data: dict, name: str = "mlw.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def churn_project(tmp_path: Path) -> Path:
    """A project folder with churn.csv and an mlw.yaml that uses relative paths."""
    (tmp_path / "data").mkdir()
    shutil.copy(DATA / "churn.csv", tmp_path / "data" / "churn.csv")
    return write_config(tmp_path, {
        "project": "churn",
        "data": {"source": {"path": "data/churn.csv"}, "target": "churned", "id_columns": ["customer_id"]},
        "prepare": {"split": {"test_size": 0.2, "seed": 42}},
    })


@pytest.fixture
def iris_project(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    shutil.copy(DATA / "iris.csv", tmp_path / "data" / "iris.csv")
    return write_config(tmp_path, {
        "project": "iris",
        "data": {"source": {"path": "data/iris.csv"}, "target": "species"},
    })
