"""`mlw retrain` end to end through the real command on the shipped churn data: a better
challenger is promoted with its reason in the registry's history, a worse one is not (exit 1),
both are judged on the same rows (checked against scikit-learn), --if-drift follows a monitor
version's gates, the window picks the rows, and every bad input exits with its code and leaves
the served alias where it was.

The champion (a logistic regression, promoted to production) is trained once per module; each
test works in its own copy of the project.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import joblib
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from ..conftest import DATA, promoted_churn_project, run_mlw
from .conftest import built_once, churn_store, private_copies, run_cli, run_json

WEAK = "train.params.C=0.000001"  # so regularised that it says 'no' to everyone: f1 0


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    def build(name: str, folder: Path) -> None:
        promoted_churn_project(folder, train={"task": "classification", "model": "logistic_regression",
                                              "metric": "f1"},  # the weak champion's f1 is 0
                               monitor={"gates": {"drift_share": "<= 0.5"}})
        for file in ("churn_new.csv", "churn_drift.csv"):
            shutil.copy(DATA / file, folder / "data" / file)

    return built_once(tmp_path_factory, build)


@pytest.fixture
def project(trained, tmp_path):
    return private_copies(trained, tmp_path)("churn")


def retrain(config: Path, *args: str) -> tuple[int, dict | None, str]:
    return run_json("retrain", config, *args)


store = churn_store


def registry(config: Path) -> dict:
    return json.loads((store(config) / "registry.json").read_text())


def production(config: Path) -> str:
    return registry(config)["aliases"]["production"]["version"]


def versions(config: Path, stage: str) -> list[str]:
    folder = store(config) / stage
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name[0].isdigit()) \
        if folder.is_dir() else []


def weak_champion(config: Path) -> str:
    """Replace production with a model that predicts one class, so any sane challenger beats it."""
    code, _, err = run_cli("train", "-c", config, "--set", WEAK)
    assert code == 0, err
    weak = versions(config, "train")[-1]
    assert run_cli("models", "promote", weak, "-c", config)[0] == 0
    return weak


def test_a_better_challenger_is_promoted_with_its_reason(project):
    weak = weak_champion(project)
    code, out, err = retrain(project, "--input", project.parent / "data" / "churn_new.csv")
    assert code == 0, err
    decision = out["decision"]
    assert out["action"] == "promoted" and decision["wins"] and decision["promoted"]
    challenger = decision["challenger"]["version"]
    assert production(project) == challenger != weak and decision["champion"]["version"] == weak
    # the new rows were appended first, and the challenger learnt from them
    assert [s["stage"] for s in out["steps"]] == ["ingest", "prepare", "train", "evaluate"]
    assert all(s["action"] == "ran" for s in out["steps"])
    ingest = json.loads((store(project) / "ingest" / versions(project, "ingest")[-1] / "manifest.json").read_text())
    assert ingest["metrics"]["rows"] > 2000 and out["decision"]["ingest"] == f"ingest/{out['steps'][0]['version']}"
    # both judged on the same rows: the challenger's test split, scored here by scikit-learn
    prepare = json.loads((store(project) / "train" / challenger / "manifest.json").read_text())["inputs"]
    prepare_version = next(i["version"] for i in prepare if i.get("stage") == "prepare")
    test = pd.read_parquet(store(project) / "prepare" / prepare_version / "test.parquet")
    assert decision["rows"] == {"test": len(test)} and decision["decided_on"] == "test"
    for who, version in (("challenger", challenger), ("champion", weak)):
        model = joblib.load(store(project) / "train" / version / "model.joblib")
        expected = f1_score(test["churned"], model.predict(test.drop(columns=["churned"])), pos_label="yes")
        assert decision[who]["metrics"]["f1"] == pytest.approx(expected)
    assert decision["champion"]["metrics"]["f1"] == 0.0
    assert decision["gain"] == pytest.approx(decision["challenger"]["metrics"]["f1"])
    # the decision is an artifact, and the registry's history says why the alias moved
    saved = json.loads((Path(out["path"]) / "decision.json").read_text())
    assert saved["challenger"]["version"] == challenger and saved["reason"] == out["reason"]
    manifest = json.loads((Path(out["path"]) / "manifest.json").read_text())
    assert {f"{i['stage']}/{i['version']}" for i in manifest["inputs"]} >= {f"train/{challenger}", f"train/{weak}"}
    last = registry(project)["history"][-1]
    assert (last["action"], last["from"], last["to"]) == ("promote", weak, challenger)
    assert last["reason"].startswith(f"retrain/{out['version']}: The challenger is better by")
    code, text, _ = run_cli("models", "show", "production", "-c", project)
    assert code == 0 and f"retrain/{out['version']}" in " ".join(text.split())
    # an automatic promotion rolls back like any other
    assert run_cli("models", "rollback", "production", "-c", project)[0] == 0
    assert production(project) == weak


def test_a_worse_challenger_is_not_promoted_and_exits_1(project):
    champion = production(project)
    before = versions(project, "retrain")
    code, out, err = retrain(project, "--set", WEAK)
    assert code == 1 and out["action"] == "not better" and not out["decision"]["promoted"]
    assert production(project) == champion
    assert "not promoted" in err and "keeps serving" in err and "retrain.margin" in " ".join(err.split())
    assert len(versions(project, "retrain")) == len(before) + 1  # the decision is recorded all the same
    assert out["decision"]["challenger"]["metrics"]["f1"] < out["decision"]["champion"]["metrics"]["f1"]
    code, text, err = run_cli("retrain", "-c", project, "--set", WEAK)
    assert code == 1 and "NOT BETTER" in text and "test (decides)" in text


def test_no_promote_judges_only_and_promote_to_stages_the_winner(project):
    weak = weak_champion(project)
    code, out, _ = retrain(project, "--no-promote")
    assert code == 0 and out["action"] == "judged" and out["decision"]["wins"] and not out["decision"]["promoted"]
    assert production(project) == weak and "staging" not in registry(project)["aliases"]
    code, out, _ = retrain(project, "--promote-to", "staging", "--force")
    assert code == 0 and out["action"] == "promoted"
    aliases = registry(project)["aliases"]
    assert aliases["staging"]["version"] == out["decision"]["challenger"]["version"]
    assert aliases["production"]["version"] == weak
    assert retrain(project, "--promote-to", "not an alias")[0] == 2


def test_a_retrain_with_nothing_new_says_so(project):
    weak_champion(project)
    code, first, _ = retrain(project)
    assert code == 0 and first["action"] == "promoted"
    code, again, _ = retrain(project)  # same data and config: every stage cached, the challenger is the champion
    assert code == 0 and again["action"] == "unchanged" and again["version"] is None
    assert {s["action"] for s in again["steps"]} == {"cached"}


def test_if_drift_follows_the_monitor_gates(project):
    data = project.parent / "data"
    assert run_cli("monitor", "-c", project, "--input", data / "churn_new.csv")[0] == 0  # like the training rows
    before = {stage: versions(project, stage) for stage in ("ingest", "train", "retrain")}
    code, out, _ = retrain(project, "--if-drift", "--monitor", "latest")
    assert code == 0 and out["action"] == "nothing to do" and "passed every gate" in out["reason"]
    assert {stage: versions(project, stage) for stage in before} == before
    assert run_cli("monitor", "-c", project, "--input", data / "churn_drift.csv")[0] == 1  # the drifted batch
    monitored = versions(project, "monitor")[-1]
    code, out, err = retrain(project, "--if-drift", "--monitor", "latest", "--input", data / "churn_drift.csv")
    assert code in (0, 1) and out["decision"]["trigger"]["monitor"] == f"monitor/{monitored}"
    assert out["decision"]["trigger"]["failures"] and "drift_share" in out["decision"]["trigger"]["failures"][0]
    manifest = json.loads((Path(out["path"]) / "manifest.json").read_text())
    assert f"monitor/{monitored}" in {f"{i['stage']}/{i['version']}" for i in manifest["inputs"]}
    code, _, err = run_cli("retrain", "-c", project, "--if-drift", "--set", "monitor.current=null")
    assert code == 2 and "monitor.current" in err and "--monitor latest" in err


def test_dry_run_writes_and_promotes_nothing(project):
    champion = production(project)
    before = {stage: versions(project, stage) for stage in ("ingest", "prepare", "train", "evaluate", "retrain")}
    code, out, _ = retrain(project, "--dry-run", "--input", project.parent / "data" / "churn_new.csv")
    assert code == 0 and out["action"] == "dry run" and champion in out["reason"]
    assert [(s["stage"], s["action"]) for s in out["steps"]] == [
        ("ingest", "would run"), ("prepare", "would run"), ("train", "would run"), ("evaluate", "would run")]
    assert {stage: versions(project, stage) for stage in before} == before and production(project) == champion


def test_the_window_picks_the_rows_and_too_few_is_an_error(project):
    champion = production(project)
    code, out, err = retrain(project, "--set", "retrain.window=800", "--no-promote")
    assert code in (0, 1), err
    prepare = next(s["version"] for s in out["steps"] if s["stage"] == "prepare")
    info = json.loads((store(project) / "prepare" / prepare / "manifest.json").read_text())["info"]
    assert info["rows_out"] <= 800 and info["dropped"]["outside_window"] == info["rows_in"] - 800 - sum(
        v for k, v in info["dropped"].items() if k != "outside_window")
    # a period on the time column: only rows within 180 days of the newest sign-up
    code, out, err = retrain(project, "--set", "retrain.window=180d", "--set", "data.time_column=signup_date",
                             "--set", "retrain.min_rows=10", "--no-promote")
    prepare = next(s["version"] for s in out["steps"] if s["stage"] == "prepare")
    train = pd.read_parquet(store(project) / "prepare" / prepare / "train.parquet")
    dates = pd.to_datetime(train["signup_date"])
    raw = pd.to_datetime(pd.read_csv(project.parent / "data" / "churn.csv")["signup_date"], errors="coerce")
    assert dates.min() > raw.max() - pd.Timedelta(days=180)
    code, out, err = retrain(project, "--set", "retrain.window=30")
    assert code == 3 and "fewer than retrain.min_rows" in err and production(project) == champion
    code, _, err = retrain(project, "--set", "retrain.window=90d")
    assert code == 2 and "data.time_column" in err
    code, _, err = retrain(project, "--set", "retrain.window=three months")
    assert code == 2 and "retrain.window" in err and "90d" in err


def test_judge_on_rows_decide(project):
    weak = weak_champion(project)
    labelled = project.parent / "data" / "churn_drift.csv"
    code, out, err = retrain(project, "--set", f"retrain.judge_on.path={labelled}")
    assert code == 0, err
    decision = out["decision"]
    rows = pd.read_csv(labelled)
    assert decision["decided_on"] == "judge_on" and decision["rows"]["judge_on"] == int(rows["churned"].notna().sum())
    model = joblib.load(store(project) / "train" / weak / "model.joblib")
    known = rows[rows["churned"].notna()]
    assert decision["champion"]["metrics"]["f1"] == pytest.approx(
        f1_score(known["churned"], model.predict(known.drop(columns=["churned"])), pos_label="yes"))
    code, _, err = retrain(project, "--set", f"retrain.judge_on.path={project.parent / 'data' / 'nope.csv'}")
    assert code in (2, 3) and "nope.csv" in err


def test_a_tampered_champion_exits_4_and_nothing_is_promoted(project):
    champion = production(project)
    model = store(project) / "train" / champion / "model.joblib"
    model.write_bytes(model.read_bytes()[:-8] + b"tampered")
    code, _, err = retrain(project, "--force")
    assert code == 4 and "model.joblib" in err
    assert production(project) == champion and versions(project, "retrain") == []


def test_two_retrains_at_once_both_decide_and_the_alias_ends_on_a_complete_model(project):
    import subprocess
    import sys

    weak = weak_champion(project)
    runs = [subprocess.Popen([sys.executable, "-m", "mlflow_cli", "retrain", "-c", str(project), "--json",
                              "--set", f"train.seed={seed}", "--set", "prepare.split.seed=7"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
    outs = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in runs]
    assert all(code in (0, 1) for code, _, _ in outs), [err for _, _, err in outs]
    decisions = [json.loads(out) for _, out, _ in outs]
    assert len({d["version"] for d in decisions}) == 2 and len(versions(project, "retrain")) == 2
    promoted = [d for d in decisions if d["action"] == "promoted"]
    assert promoted  # the first to judge beats the weak champion; the second may meet its twin
    moves = [m for m in registry(project)["history"] if (m["reason"] or "").startswith("retrain/")]
    assert [m["reason"].split(":")[0] for m in moves] == [f"retrain/{d['version']}" for d in promoted] or \
        sorted(m["reason"].split(":")[0] for m in moves) == sorted(f"retrain/{d['version']}" for d in promoted)
    assert production(project) in {d["decision"]["challenger"]["version"] for d in promoted} != {weak}
    assert run_mlw("artifacts", "verify", f"train/{production(project)}", "-c", project).exit_code == 0


@pytest.mark.parametrize("after", [0.8, 2.0, 3.5])
def test_ctrl_c_at_any_point_leaves_the_alias_on_a_complete_model(project, after):
    import signal
    import subprocess
    import sys
    import time

    weak = weak_champion(project)
    run = subprocess.Popen([sys.executable, "-m", "mlflow_cli", "retrain", "-c", str(project)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(after)
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=120)
    alias = production(project)
    if alias != weak:  # interrupted after the promotion: the new alias is the decision's challenger
        decided = [json.loads((store(project) / "retrain" / v / "decision.json").read_text())
                   for v in versions(project, "retrain")]
        assert [d["challenger"]["version"] for d in decided if d["promoted"]] == [alias]
    assert run_mlw("artifacts", "verify", f"train/{alias}", "-c", project).exit_code == 0
    for stage in ("prepare", "train", "evaluate", "retrain"):  # no half version left where a stage could read it
        for version in versions(project, stage):
            assert (store(project) / stage / version / "manifest.json").is_file(), (stage, version)
    if run.returncode > 0:  # stopped by mlw (exit 130), not by the signal itself
        assert "Traceback" not in err


def test_a_window_of_one_class_and_judging_rows_without_labels_stop_before_any_promotion(project, tmp_path):
    champion = production(project)
    rows = pd.read_csv(project.parent / "data" / "churn_new.csv")
    loyal = rows[rows["churned"] == "no"].head(200).assign(customer_id=[f"N{i:05d}" for i in range(200)])
    loyal.to_csv(tmp_path / "loyal.csv", index=False)
    code, _, err = retrain(project, "--input", tmp_path / "loyal.csv", "--set", "retrain.window=200")
    assert code == 3 and "single class ('no')" in err  # prepare says so, before anything is trained
    rows.drop(columns=["churned"]).to_csv(tmp_path / "unlabelled.csv", index=False)
    code, _, err = retrain(project, "--set", f"retrain.judge_on.path={tmp_path / 'unlabelled.csv'}")
    assert code == 3 and "has no column 'churned'" in err and "unlabelled.csv" in err
    assert production(project) == champion and versions(project, "retrain") == []
