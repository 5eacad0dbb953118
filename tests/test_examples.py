"""The examples README names: the closed loop (`make loop`) recovers after the world changes, and
the scheduled commands (the cron line and the CI workflow in examples/) run as written."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from .conftest import REPO

MLW = [sys.executable, "-m", "mlflow_cli"]


def test_the_closed_loop_recovers_after_the_world_changes(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "examples" / "closed_loop.py"), "--work", str(tmp_path)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-2000:]
    summary = json.loads((tmp_path / "loop.json").read_text())
    weeks = {w["week"]: w for w in summary["weeks"]}
    assert sorted(weeks) == [3, 4, 5, 6, 7, 8] and summary["recovered"] is True
    assert summary["promoted_after_weeks"] == [5]  # the change is caught in its first week, and only then
    assert [weeks[w]["retrain"] for w in (3, 4)] == ["nothing to do"] * 2 and "roc_auc" in weeks[5]["failed_gates"]
    assert weeks[6]["served"] != weeks[5]["served"] and weeks[6]["served"] == weeks[8]["served"]
    assert summary["served_after_promotion"] >= summary["first_model_before_change"] - 0.02
    assert summary["first_model_after_promotion"] < summary["served_after_promotion"] - 0.2
    assert (tmp_path / "loop.png").stat().st_size > 10_000
    assert "| week | served model |" in done.stdout and "RECOVERED" in done.stdout


def _cron_commands(path: Path) -> list[list[str]]:
    line = next(ln for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#"))
    command = line.split(None, 5)[5]
    parts = [p.strip() for chunk in command.split(";") for p in chunk.split("&&")]
    return [shlex.split(p) for p in parts if not p.startswith("cd ")]


def _workflow_commands(path: Path) -> list[list[str]]:
    steps = yaml.safe_load(path.read_text())["jobs"]["loop"]["steps"]
    return [shlex.split(s["run"]) for s in steps if s.get("run", "").startswith("mlw ")]


def test_the_scheduled_commands_run_as_written(tmp_path):
    """Each file's commands, in order, in a project laid out like this repository: the drifted
    batch fails monitor.gates, so retrain appends it, trains and judges, triggered by that
    monitor version."""
    fast = ["--set", "train.model=logistic_regression"]
    for name, commands in (("cron", _cron_commands(REPO / "examples" / "retrain-schedule.cron")),
                           ("workflow", _workflow_commands(REPO / "examples" / "retrain-schedule.yml"))):
        project = tmp_path / name
        (project / "configs").mkdir(parents=True)
        shutil.copytree(REPO / "data", project / "data", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
        shutil.copy(REPO / "configs" / "churn.yaml", project / "configs" / "churn.yaml")
        for args in (["run", "-c", "configs/churn.yaml", *fast], ["models", "promote", "latest", "-c",
                                                                    "configs/churn.yaml"]):
            assert subprocess.run([*MLW, *args], cwd=project, capture_output=True).returncode == 0
        assert [(Path(c[0]).name, c[1]) for c in commands] == [("mlw", "monitor"), ("mlw", "retrain")], name
        codes = [subprocess.run([*MLW, *c[1:], *(fast if c[1] == "retrain" else [])], cwd=project,
                                capture_output=True, text=True).returncode for c in commands]
        assert codes[0] == 1, name  # the shipped drifted batch fails monitor.gates ...
        assert codes[1] in (0, 1), name  # ... so retrain runs: promoted, or the champion kept (exit 1)
        store = project / "artifacts" / "churn"
        [retrain] = [p for p in (store / "retrain").iterdir() if p.name[0].isdigit()]
        decision = json.loads((retrain / "decision.json").read_text())
        [monitor] = [p.name for p in (store / "monitor").iterdir() if p.name[0].isdigit()]
        assert decision["trigger"]["monitor"] == f"monitor/{monitor}" and decision["trigger"]["failures"], name
        assert decision["rows"]["test"] > 400, name  # the drifted batch was appended before training
