"""The command surface: help, version, lazy imports, exit codes for usage errors."""

from __future__ import annotations

import subprocess
import sys
import typing

import pytest

def _command_tree() -> tuple[list[str], list[list[str]]]:
    """The top-level commands and every leaf command, read from the app itself, so a new
    command is covered by the help and README tests without editing a list."""
    import typer

    from mlflow_cli.cli import app

    root = typer.main.get_command(app)
    leaves: list[list[str]] = []

    def walk(command: typing.Any, path: list[str]) -> None:
        if hasattr(command, "commands"):  # a group (typer's own click)
            for name, sub in command.commands.items():
                walk(sub, [*path, name])
        else:
            leaves.append(path)

    walk(root, [])
    return list(root.commands), leaves


COMMANDS, LEAVES = _command_tree()
# The tree must hold what the issues promised (a guard against the walk finding nothing).
assert {"init", "ingest", "prepare", "train", "evaluate", "serve", "predict", "package", "run", "config",
        "artifacts", "runs", "models"} <= set(COMMANDS)
assert ["models", "promote"] in LEAVES and len(LEAVES) >= 25


def test_cli_help_lists_every_command_with_description(mlw):
    result = mlw("--help")
    assert result.exit_code == 0
    for name in COMMANDS:
        line = next((ln for ln in result.stdout.splitlines() if ln.startswith(f"  {name} ")), None)
        assert line is not None, f"{name} missing from --help"
        description = line.split(name, 1)[1].strip()
        assert len(description) > 10, f"{name} has no description"
        assert not description.endswith("..."), f"{name}'s first help line is cut: {description}"


@pytest.mark.parametrize("command", LEAVES, ids=" ".join)
def test_cli_command_help_has_example(mlw, command):
    result = mlw(*command, "--help")
    assert result.exit_code == 0
    assert "Example: `mlw " in result.stdout


def test_cli_version(mlw):
    from mlflow_cli import __version__

    result = mlw("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"mlw {__version__}"


def test_cli_unknown_command_is_usage_error(mlw):
    result = mlw("trian")
    assert result.exit_code == 2


def test_cli_import_is_lazy():
    """`mlw --help` must not pay for pandas, scikit-learn, pyarrow, pydantic or xgboost."""
    code = ("import sys; import mlflow_cli.cli; "
            "heavy = [m for m in ('pandas', 'sklearn', 'pyarrow', 'xgboost', 'pydantic', 'yaml') if m in sys.modules];"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_cli_console_script_runs():
    """The installed `mlw` entry point (python -m and the console script) answers."""
    proc = subprocess.run([sys.executable, "-m", "mlflow_cli", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("mlw ")


def test_cli_missing_config_is_exit_2_without_traceback(mlw, tmp_path):
    result = mlw("ingest", cwd=tmp_path)
    assert result.exit_code == 2
    assert "Config file 'mlw.yaml' not found" in result.stderr
    assert "mlw init" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_json_flag_prints_only_json(mlw, iris_project):
    result = mlw("ingest", "-c", iris_project, "--json")
    assert result.exit_code == 0
    assert result.json()["info"]["rows"] == 150
    result = mlw("--json", "prepare", "-c", iris_project)
    assert result.json()["stage"] == "prepare"


def test_cli_quiet_silences_status_lines(mlw, iris_project):
    result = mlw("--quiet", "ingest", "-c", iris_project)
    assert result.exit_code == 0
    assert "Ingested" not in result.stderr
    assert "iris.csv" not in result.stderr
