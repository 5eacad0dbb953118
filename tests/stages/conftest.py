"""Fixtures for stage tests that need a prepared project: each test module names its projects
in a module-level PROJECTS dict (name -> (data file, config)); ingest + prepare run once per
project per module, and each test gets a private copy."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlflow_cli.cli import app

from ..conftest import DATA, write_config


def run_cli(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def run_json(command: str, config: Path, *args: str | Path) -> tuple[int, dict | None, str]:
    """`mlw COMMAND -c CONFIG --json ARGS`: exit code, the JSON result (None when there is none), stderr."""
    import json

    code, out, err = run_cli(command, "-c", config, "--json", *args)
    return code, (json.loads(out) if out.strip() else None), err


def churn_store(config: Path) -> Path:
    """The artifact store of a churn project (promoted_churn_project) whose config is `config`."""
    return config.parent / "artifacts" / "churn"


def built_once(tmp_path_factory: pytest.TempPathFactory, build: Callable[[str, Path], None]) -> Callable[[str], Path]:
    """name -> a folder that `build(name, folder)` filled, built on the first call for that name."""
    made: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in made:
            folder = tmp_path_factory.mktemp(name)
            build(name, folder)
            made[name] = folder
        return made[name]

    return get


def private_copies(get: Callable[[str], Path], tmp_path: Path) -> Callable[[str], Path]:
    """name -> the config path of the test's own copy of get(name)."""
    return lambda name: shutil.copytree(get(name), tmp_path / name) / "mlw.yaml"


@pytest.fixture(scope="module")
def prepared(request, tmp_path_factory):
    """name -> a folder holding the data, mlw.yaml and a prepared artifact store (made once)."""
    projects = request.module.PROJECTS

    def build(name: str, folder: Path) -> None:
        file, config = projects[name]
        shutil.copy(DATA / file, folder / file)
        path = write_config(folder, {"project": name, **config})
        for stage in ("ingest", "prepare"):
            code, _, err = run_cli(stage, "-c", path)
            assert code == 0, err

    return built_once(tmp_path_factory, build)


@pytest.fixture
def project(prepared, tmp_path):
    """project("churn") -> the config path of a private copy of a prepared project."""
    return private_copies(prepared, tmp_path)
