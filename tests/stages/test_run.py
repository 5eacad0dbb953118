"""`mlw run` (the chain, caching, --from/--until/--dry-run/--force, no heavy imports when
everything is cached) and `mlw runs` (list, show, compare)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import imports_of_mlw

FAST = ["--set", "train.model=logistic_regression"]


@pytest.fixture
def iris(iris_project: Path) -> Path:
    return iris_project


def _actions(run) -> list[tuple[str, str]]:
    return [(s["stage"], s["action"]) for s in run.json()["steps"]]


def test_run_executes_the_chain_then_caches(mlw, iris):
    first = mlw("run", "-c", iris, "--json", *FAST)
    assert first.exit_code == 0, first.stderr
    assert _actions(first) == [("ingest", "ran"), ("prepare", "ran"), ("train", "ran"), ("evaluate", "ran")]
    steps = {s["stage"]: s for s in first.json()["steps"]}
    assert steps["evaluate"]["metrics"]["accuracy"] > 0.85
    again = mlw("run", "-c", iris, "--json", *FAST)
    assert _actions(again) == [(s, "cached") for s in ("ingest", "prepare", "train", "evaluate")]
    assert [s["version"] for s in again.json()["steps"]] == [s["version"] for s in first.json()["steps"]]
    human = mlw("run", "-c", iris, *FAST)
    assert human.stderr.count("cached") == 4


def test_run_passes_on_each_stage_warnings(mlw, iris):
    """A stage's warnings (here scikit-learn's convergence warning) reach `mlw run`'s stderr,
    named by stage, and its JSON; a clean run has none."""
    clean = mlw("run", "-c", iris, "--json", *FAST).json()["steps"]
    assert [s["warnings"] for s in clean] == [[], [], [], []]
    stopped = ["--set", "train.params={max_iter: 1}"]
    human = mlw("run", "-c", iris, *FAST, *stopped)
    assert human.exit_code == 0, human.stderr
    assert "Warning: train: ConvergenceWarning:" in human.stderr
    steps = {s["stage"]: s for s in mlw("run", "-c", iris, "--json", *FAST, *stopped).json()["steps"]}
    assert steps["train"]["action"] == "cached" and steps["train"]["warnings"] == []  # said when it ran


def test_run_chains_the_versions_it_produced(mlw, iris):
    steps = {s["stage"]: s for s in mlw("run", "-c", iris, "--json", *FAST).json()["steps"]}
    root = iris.parent / "artifacts" / "iris"
    import json

    prepare = json.loads((root / "prepare" / steps["prepare"]["version"] / "manifest.json").read_text())
    evaluate = json.loads((root / "evaluate" / steps["evaluate"]["version"] / "manifest.json").read_text())
    assert prepare["inputs"][0]["version"] == steps["ingest"]["version"]
    assert [i["version"] for i in evaluate["inputs"][:2]] == [steps["train"]["version"], steps["prepare"]["version"]]


def test_run_dry_run_says_what_and_why_and_writes_nothing(mlw, iris):
    dry = mlw("run", "-c", iris, "--dry-run", "--json", *FAST)
    assert dry.exit_code == 0
    steps = dry.json()["steps"]
    assert [(s["stage"], s["action"], s["reason"]) for s in steps] == [
        ("ingest", "would run", "no version yet"), ("prepare", "would run", "an upstream stage will run"),
        ("train", "would run", "an upstream stage will run"), ("evaluate", "would run", "an upstream stage will run")]
    assert not (iris.parent / "artifacts").exists() or not list((iris.parent / "artifacts").rglob("manifest.json"))
    mlw("run", "-c", iris, *FAST)
    changed = mlw("run", "-c", iris, "--dry-run", "--json", *FAST, "--set", "train.cv=3").json()["steps"]
    assert [(s["action"], s["reason"]) for s in changed] == [
        ("cached", ""), ("cached", ""), ("would run", "config changed"), ("would run", "an upstream stage will run")]


def test_run_from_until_and_force(mlw, iris):
    until = mlw("run", "-c", iris, "--until", "prepare", "--json", *FAST)
    assert _actions(until) == [("ingest", "ran"), ("prepare", "ran")]
    start = mlw("run", "-c", iris, "--from", "train", "--json", *FAST)
    assert _actions(start) == [("train", "ran"), ("evaluate", "ran")]
    forced = mlw("run", "-c", iris, "--from", "evaluate", "--force", "--json", *FAST)
    assert _actions(forced) == [("evaluate", "ran")]
    assert forced.json()["steps"][0]["reason"] == "--force"


def test_run_pipeline_key_chooses_stages(mlw, iris):
    result = mlw("run", "-c", iris, "--json", "--set", "pipeline=[ingest, prepare]")
    assert _actions(result) == [("ingest", "ran"), ("prepare", "ran")]


@pytest.mark.parametrize("args,message", [
    (["--from", "trian"], "--from 'trian' is not a stage of this pipeline. Did you mean 'train'?"),
    (["--from", "evaluate", "--until", "prepare"], "--from evaluate comes after --until prepare"),
    (["--from", "train"], "--from train needs a 'prepare' version, and there is none yet."),
])
def test_run_bad_options_exit_2(mlw, iris, args, message):
    result = mlw("run", "-c", iris, *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_run_failing_gate_exits_1_after_the_chain(mlw, iris):
    result = mlw("run", "-c", iris, *FAST, "--set", "evaluate.gates={accuracy: '>= 0.999'}")
    assert result.exit_code == 1
    assert "gate(s) failed" in result.stderr and "accuracy" in result.stderr and ">= 0.999" in result.stderr
    assert list((iris.parent / "artifacts" / "iris" / "evaluate").glob("2*/report.html"))


def test_run_all_cached_imports_no_heavy_library(mlw, iris):
    assert mlw("run", "-c", iris, *FAST).exit_code == 0
    heavy, stderr = imports_of_mlw(["run", "-c", iris, "--set", "train.model=logistic_regression"],
                                   ("pandas", "sklearn", "xgboost", "pyarrow", "matplotlib"))
    assert heavy == [], stderr
    assert stderr.count("cached") == 4


# ------------------------------------------------------------------ runs


def test_runs_list_show_compare(mlw, iris):
    mlw("run", "-c", iris, *FAST)
    mlw("run", "-c", iris, "--set", "train.model=random_forest", "--set", "train.params={n_estimators: 20}")
    runs = mlw("runs", "list", "-c", iris, "--json").json()
    assert [r["model"] for r in runs] == ["random_forest", "logistic_regression"]  # newest first
    assert runs[0]["params"] == {"n_estimators": 20}
    assert all(r["test"]["accuracy"] > 0.8 and r["evaluation"] for r in runs)
    by_f1 = mlw("runs", "list", "-c", iris, "--sort", "f1_macro", "--json").json()
    assert by_f1[0]["test"]["f1_macro"] >= by_f1[1]["test"]["f1_macro"]
    only = mlw("runs", "list", "-c", iris, "--model", "random_forest", "--json").json()
    assert len(only) == 1
    shown = mlw("runs", "show", runs[0]["version"], "-c", iris, "--json").json()
    assert shown["info"]["estimator"] == "sklearn.ensemble.RandomForestClassifier"
    diff = mlw("runs", "compare", runs[1]["version"], runs[0]["version"], "-c", iris, "--json").json()
    assert diff["model_changed"] is True and diff["data_changed"] is False
    accuracy = next(m for m in diff["metrics"] if m["metric"] == "test accuracy")
    assert accuracy["delta"] == pytest.approx(accuracy["b"] - accuracy["a"])
    human = mlw("runs", "compare", runs[1]["version"], runs[0]["version"], "-c", iris)
    assert "params that differ" in human.stdout and "n_estimators" in human.stdout


@pytest.mark.parametrize("args,code,message", [
    (["runs", "compare", "19990101", "latest"], 4, "runs compare: No 'train' version '19990101'"),
    (["runs", "list", "--sort", "f2"], 2, "--sort 'f2' is not a metric."),
    (["runs", "list", "--model", "xgbost"], 2, "--model 'xgbost' matches no run."),
])
def test_runs_bad_input(mlw, iris, args, code, message):
    mlw("run", "-c", iris, *FAST)
    result = mlw(*args, "-c", iris)
    assert result.exit_code == code, result.stderr
    assert message in result.stderr


def test_ci_script_branches_on_gates(tmp_path, iris):
    """What a CI job does: run the chain, deploy only when the gates pass."""
    script = tmp_path / "ci.sh"
    script.write_text(
        "set -u\n"
        f"MLW='{sys.executable} -m mlflow_cli'\n"
        f"if $MLW run -c {iris} --set train.model=logistic_regression --set \"evaluate.gates={{accuracy: '$GATE'}}\" "
        ">/dev/null 2>&1; then echo DEPLOY; else echo BLOCKED $?; fi\n")
    env = {**os.environ}
    passing = subprocess.run(["bash", str(script)], capture_output=True, text=True, env={**env, "GATE": ">= 0.5"})
    failing = subprocess.run(["bash", str(script)], capture_output=True, text=True, env={**env, "GATE": ">= 0.9999"})
    assert passing.stdout.strip() == "DEPLOY"
    assert failing.stdout.strip() == "BLOCKED 1"


def test_run_reads_and_checks_each_file_no_more_than_it_must(iris_project, monkeypatch):
    """Each stage runs on the plan `mlw run` already made, and a published version is handed
    back by its writer: nothing is loaded and re-hashed a second time."""
    from collections import Counter

    from mlflow_cli.core import store
    from mlflow_cli.data import sources
    from mlflow_cli.core.config import load_config
    from mlflow_cli.stages.run import run_pipeline

    hashed: Counter[str] = Counter()
    real = store.sha256_file

    def counting(path):
        hashed[Path(path).name] += 1
        return real(path)

    monkeypatch.setattr(store, "sha256_file", counting)
    monkeypatch.setattr(sources, "sha256_file", counting)
    result = run_pipeline(load_config(iris_project), until="prepare")
    assert [step.action for step in result.steps] == ["ran", "ran"]
    assert hashed["iris.csv"] == 1             # described once, by ingest's plan
    assert hashed["data.parquet"] == 2         # published, then checked once when prepare's plan loads it
    assert hashed["train.parquet"] == 1        # published
