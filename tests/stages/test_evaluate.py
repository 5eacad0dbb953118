"""`mlw evaluate`: metrics on the held-out test split for every task (checked against direct
scikit-learn computations), overfitting warnings, plots and the self-contained report, gates,
champion/challenger, missing or tampered models, and a CI script that branches on the exit code.

Ingest + prepare run once per dataset (module scope); each test trains in its own copy.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn import metrics as skm

from mlflow_cli.models.metrics import TASK_METRICS

from ..conftest import DATA, write_config

PROJECTS = {
    "churn": ("churn.csv", {"data": {"source": {"path": "churn.csv"}, "target": "churned",
                                     "id_columns": ["customer_id"]},
                            "prepare": {"split": {"test_size": 0.2, "seed": 42}},
                            # f1, not the default roc_auc: these tests compare label metrics
                            "train": {"task": "classification", "model": "logistic_regression", "metric": "f1"}}),
    "iris": ("iris.csv", {"data": {"source": {"path": "iris.csv"}, "target": "species"},
                          "prepare": {"split": {"test_size": 0.3, "seed": 1}},
                          "train": {"task": "classification", "model": "logistic_regression",
                                    "params": {"C": 0.05}}}),
    "diabetes": ("diabetes.csv", {"data": {"source": {"path": "diabetes.csv"}, "target": "progression"},
                                  "train": {"task": "regression", "model": "ridge"}}),
    "clusters": ("iris.csv", {"data": {"source": {"path": "iris.csv"}, "target": "species"},
                              "train": {"task": "clustering", "model": "kmeans", "params": {"n_clusters": 3}}}),
    "unlabelled": ("iris.csv", {"data": {"source": {"path": "iris.csv"}},
                                "prepare": {"drop_columns": ["species"]},
                                "train": {"model": "kmeans", "params": {"n_clusters": 3}}}),
}


def _sets(sets: tuple[str, ...]) -> list[str]:
    return [a for s in sets for a in ("--set", s)]


def _train(mlw, config: Path, *sets: str) -> dict:
    result = mlw("train", "-c", config, "--json", *_sets(sets))
    assert result.exit_code == 0, result.stderr
    return result.json()


def _evaluate(mlw, config: Path, *sets: str, model: str | None = None, code: int = 0):
    result = mlw("evaluate", "-c", config, "--json", *_sets(sets), *(["--model", model] if model else []))
    assert result.exit_code == code, result.stderr
    return result


def _prepared_split(config: Path, name: str) -> pd.DataFrame:
    prepare = _project_dir(config) / "prepare"
    return pd.read_parquet(prepare / (prepare / "latest").read_text().strip() / f"{name}.parquet")


def _project_dir(config: Path) -> Path:
    return config.parent / "artifacts" / yaml.safe_load(config.read_text())["project"]


def _load_model(trained: dict):
    return joblib.load(Path(trained["path"]) / "model.joblib")


def _evaluations(config: Path) -> list[str]:
    folder = _project_dir(config) / "evaluate"
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")) \
        if folder.exists() else []


# ------------------------------------------------------------------ metrics per task, on the test split

def test_evaluate_binary_classification_on_the_test_split(mlw, project):
    config = project("churn")
    trained = _train(mlw, config)
    result = _evaluate(mlw, config).json()
    info, metrics = result["info"], result["metrics"]
    test = _prepared_split(config, "test")
    assert info["test_rows"] == len(test) == 397
    assert info["train"] == f"train/{trained['version']}" and info["passed"] is True
    assert list(metrics) == list(TASK_METRICS["classification"])

    model = _load_model(trained)
    y, predicted, proba = test["churned"], model.predict(test), model.predict_proba(test)[:, 1]
    expected = {
        "accuracy": skm.accuracy_score(y, predicted),
        "balanced_accuracy": skm.balanced_accuracy_score(y, predicted),
        "precision": skm.precision_score(y, predicted, pos_label="yes"),
        "recall": skm.recall_score(y, predicted, pos_label="yes"),
        "f1": skm.f1_score(y, predicted, pos_label="yes"),
        "f1_macro": skm.f1_score(y, predicted, average="macro"),
        "f1_weighted": skm.f1_score(y, predicted, average="weighted"),
        "roc_auc": skm.roc_auc_score(y == "yes", proba),
        "pr_auc": skm.average_precision_score(y == "yes", proba),
        "log_loss": skm.log_loss(y, model.predict_proba(test), labels=["no", "yes"]),
    }
    for name, value in expected.items():
        assert metrics[name] == pytest.approx(value, abs=1e-12), name
    train = _prepared_split(config, "train")
    assert info["train_metrics"]["accuracy"] == pytest.approx(skm.accuracy_score(train["churned"],
                                                                                  model.predict(train)))
    assert info["train_metrics"]["accuracy"] != pytest.approx(metrics["accuracy"])

    assert info["confusion"] == {"labels": ["no", "yes"],
                                 "matrix": skm.confusion_matrix(y, predicted, labels=["no", "yes"]).tolist()}
    assert set(info["per_class"]) == {"no", "yes"}
    assert info["per_class"]["yes"]["support"] == int((y == "yes").sum())
    assert info["per_class"]["yes"]["f1"] == pytest.approx(expected["f1"])

    folder = Path(result["path"])
    scored = pd.read_parquet(folder / "predictions.parquet")
    assert len(scored) == 397 and (scored["prediction"].to_numpy() == predicted).all()
    assert np.allclose(scored["proba_yes"], proba)
    saved = json.loads((folder / "metrics.json").read_text())
    assert saved["test"] == metrics and saved["train"] == info["train_metrics"]
    assert saved["gates"] == [] and saved["champion"] is None


def test_evaluate_multiclass_metrics(mlw, project):
    config = project("iris")
    trained = _train(mlw, config)
    result = _evaluate(mlw, config).json()
    metrics, info = result["metrics"], result["info"]
    assert list(metrics) == list(TASK_METRICS["classification"])
    test = _prepared_split(config, "test")
    model = _load_model(trained)
    classes = ["setosa", "versicolor", "virginica"]
    y, predicted, proba = test["species"], model.predict(test), model.predict_proba(test)
    assert info["test_rows"] == len(test) == 45
    assert metrics["f1"] == pytest.approx(skm.f1_score(y, predicted, average="macro"))  # macro on multiclass
    assert metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr", labels=classes))
    assert metrics["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=classes))
    assert metrics["accuracy"] == pytest.approx(skm.accuracy_score(y, predicted)) and metrics["accuracy"] < 1
    assert info["confusion"]["labels"] == classes
    assert np.array(info["confusion"]["matrix"]).sum() == 45
    assert {c: r["support"] for c, r in info["per_class"].items()} == y.value_counts().to_dict()
    assert info["plots"] == {name: f"{name}.png" for name in
                             ("confusion_matrix", "roc_curve", "pr_curve", "feature_importance")}


def test_evaluate_regression_metrics(mlw, project):
    config = project("diabetes")
    trained = _train(mlw, config)
    result = _evaluate(mlw, config).json()
    metrics = result["metrics"]
    test = _prepared_split(config, "test")
    y, predicted = test["progression"], _load_model(trained).predict(test)
    assert result["info"]["test_rows"] == len(test) == 88
    assert list(metrics) == ["mse", "rmse", "mae", "r2", "mape", "median_ae"]
    assert metrics["rmse"] == pytest.approx(math.sqrt(skm.mean_squared_error(y, predicted)))
    assert metrics["r2"] == pytest.approx(skm.r2_score(y, predicted))
    assert metrics["mae"] == pytest.approx(skm.mean_absolute_error(y, predicted))
    assert metrics["median_ae"] == pytest.approx(skm.median_absolute_error(y, predicted))
    assert result["info"]["confusion"] is None and result["info"]["per_class"] is None
    assert result["info"]["plots"] == {"residuals": "residuals.png", "predicted_vs_actual": "predicted_vs_actual.png",
                                       "feature_importance": "feature_importance.png"}


def test_evaluate_clustering_with_labels(mlw, project):
    """data.target with train.task clustering: the labels are never features, but score the
    clusters (ari, nmi) next to the internal metrics."""
    config = project("clusters")
    trained = _train(mlw, config)
    assert trained["info"]["features_in"] == 4
    result = _evaluate(mlw, config).json()
    metrics = result["metrics"]
    assert list(metrics) == ["silhouette", "davies_bouldin", "calinski_harabasz", "ari", "nmi"]
    test = _prepared_split(config, "test")
    model = _load_model(trained)
    labels = model.predict(test)
    assert metrics["ari"] == pytest.approx(skm.adjusted_rand_score(test["species"], labels))
    assert metrics["nmi"] == pytest.approx(skm.normalized_mutual_info_score(test["species"], labels))
    features = model[:-1].transform(test)
    assert metrics["silhouette"] == pytest.approx(skm.silhouette_score(features, labels))
    assert result["info"]["test_rows"] == len(test) == 30
    assert result["info"]["plots"] == {"cluster_sizes": "cluster_sizes.png"}
    assert result["info"]["train_metrics"] == {}


@pytest.mark.parametrize("model, params", [("dbscan", {"eps": 0.8}), ("agglomerative", {"n_clusters": 3})])
def test_evaluate_clustering_without_predict(mlw, project, model, params):
    config = project("clusters")
    _train(mlw, config, f"train.model={model}", f"train.params={json.dumps(params)}")
    result = _evaluate(mlw, config).json()
    assert {"ari", "nmi", "silhouette"} <= set(result["metrics"])
    scored = pd.read_parquet(Path(result["path"]) / "predictions.parquet")
    assert len(scored) == 30 and scored["prediction"].nunique() >= 2


def test_evaluate_clustering_without_labels(mlw, project):
    config = project("unlabelled")
    trained = _train(mlw, config)
    assert trained["info"]["task"] == "clustering" and trained["info"]["target"] is None
    metrics = _evaluate(mlw, config).json()["metrics"]
    assert list(metrics) == ["silhouette", "davies_bouldin", "calinski_harabasz"]


def test_evaluate_warns_about_overfitting(mlw, project):
    config = project("churn")
    _train(mlw, config, "train.model=decision_tree")  # no depth limit: memorises the training rows
    result = _evaluate(mlw, config)
    data = result.json()
    overfit = data["info"]["overfit"]
    assert overfit["metric"] == "f1" and overfit["train"] == pytest.approx(1.0)
    assert overfit["relative_gap"] > 0.3
    [warning] = data["warnings"]
    assert warning.startswith("possible overfitting: f1 is 1 on the training rows but ")
    assert "Try a simpler model or more regularisation." in warning
    human = mlw("evaluate", "-c", config)
    assert human.exit_code == 0 and "Warning: possible overfitting" in human.stderr
    _train(mlw, config, "train.model=logistic_regression")
    assert _evaluate(mlw, config).json()["warnings"] == []


def test_evaluate_overfit_check_uses_the_train_metric_even_when_not_reported(mlw, project):
    config = project("churn")
    _train(mlw, config, "train.model=decision_tree")
    data = _evaluate(mlw, config, "evaluate.metrics=[accuracy]").json()
    assert list(data["metrics"]) == ["accuracy"] and data["info"]["overfit"]["metric"] == "f1"
    assert "overfitting" in data["warnings"][0]


# ------------------------------------------------------------------ plots and the report

@pytest.mark.parametrize("name, plots", [
    ("churn", {"confusion_matrix", "roc_curve", "pr_curve", "calibration_curve", "feature_importance"}),
    ("diabetes", {"residuals", "predicted_vs_actual", "feature_importance"}),
    ("clusters", {"cluster_sizes"}),
])
def test_evaluate_writes_plots_and_a_self_contained_report(mlw, project, name, plots):
    config = project(name)
    _train(mlw, config)
    result = _evaluate(mlw, config).json()
    folder = Path(result["path"])
    assert set(result["info"]["plots"]) == plots
    for plot in plots:
        assert (folder / f"{plot}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in folder.glob("*.png")) == sorted(f"{p}.png" for p in plots)
    html = (folder / "report.html").read_text()
    assert result["report"] == str(folder / "report.html")
    assert html.count('src="data:image/png;base64,') == len(plots)
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html and "<link" not in html
    assert f"{result['metrics'][next(iter(result['metrics']))]:.4g}" in html
    json.loads((folder / "metrics.json").read_text())
    manifest = json.loads((folder / "manifest.json").read_text())
    assert {"metrics.json", "report.html", "predictions.parquet", *(f"{p}.png" for p in plots)} \
        == set(manifest["outputs"])


# ------------------------------------------------------------------ gates

def test_evaluate_passing_gates_exit_0(mlw, project):
    config = project("churn")
    _train(mlw, config)
    data = _evaluate(mlw, config, 'evaluate.gates={f1: ">= 0.5", log_loss: "< 0.6"}').json()
    assert data["passed"] is True
    assert [(g["gate"], g["condition"], g["passed"]) for g in data["info"]["gates"]] == \
        [("f1", ">= 0.5", True), ("log_loss", "< 0.6", True)]
    assert data["info"]["gates"][0]["value"] == data["metrics"]["f1"]


def test_evaluate_failing_gate_exits_1_and_still_publishes(mlw, project):
    config = project("churn")
    _train(mlw, config)
    result = _evaluate(mlw, config, 'evaluate.gates={f1: ">= 0.9", accuracy: ">= 0.5"}', code=1)
    data = result.json()  # --json still prints the result
    version, f1 = data["version"], data["metrics"]["f1"]
    assert f"Error: 1 gate failed for evaluate/{version}: f1 = {f1:.4g}, required >= 0.9 [f1]." in result.stderr
    assert data["passed"] is False
    assert [g["passed"] for g in data["info"]["gates"]] == [False, True]
    folder = _project_dir(config) / "evaluate"
    assert (folder / "latest").read_text().strip() == version
    assert (folder / version / "report.html").is_file()
    assert mlw("artifacts", "verify", f"evaluate/{version}", "-c", config).exit_code == 0
    two = mlw("evaluate", "-c", config, "--set", 'evaluate.gates={f1: ">= 0.9", accuracy: "> 0.99"}')
    assert two.exit_code == 1 and "2 gates failed" in two.stderr and "accuracy = " in two.stderr


def test_evaluate_gate_on_a_metric_not_reported(mlw, project):
    """evaluate.metrics limits what is reported, not what gates may check."""
    config = project("churn")
    _train(mlw, config)
    data = _evaluate(mlw, config, "evaluate.metrics=[accuracy]", 'evaluate.gates={f1: ">= 0.5"}').json()
    assert list(data["metrics"]) == ["accuracy"]
    assert data["info"]["gates"][0]["passed"] is True and data["info"]["gates"][0]["value"] > 0.5


@pytest.mark.parametrize("gates, message", [
    ('{rmse: "<= 10"}', "`evaluate.gates` names metric 'rmse', which is a regression metric, not a "
                        "classification one."),
    ('{f2: ">= 0.8"}', "`evaluate.gates` names metric 'f2', which does not exist for classification. "
                       "Did you mean 'f1'?"),
    ('{silhouette: ">= 0.8"}', "names metric 'silhouette', which is a clustering metric"),
    ('{f1: "at least 0.8"}', "`evaluate.gates.f1` must look like '>= 0.8'. Got 'at least 0.8'."),
    ('{f1: ">= high"}', "`evaluate.gates.f1` must look like '>= 0.8'. Got '>= high'."),
    ('{f1: "0.8"}', "`evaluate.gates.f1` must look like '>= 0.8'. Got '0.8'."),
])
def test_evaluate_bad_gates_exit_2_before_any_work(mlw, project, gates, message):
    config = project("churn")
    _train(mlw, config)
    result = mlw("evaluate", "-c", config, "--set", f"evaluate.gates={gates}")
    assert result.exit_code == 2
    assert message in result.stderr
    assert _evaluations(config) == []


# ------------------------------------------------------------------ champion / challenger

@pytest.fixture
def two_models(mlw, project):
    """A churn project with a strong model (logistic regression) and a weak one (a stump)."""
    config = project("churn")
    strong = _train(mlw, config, "train.model=logistic_regression")
    weak = _train(mlw, config, "train.model=decision_tree", "train.params={max_depth: 1}")
    return config, strong, weak


def _promote(config: Path, trained: dict, alias: str = "production") -> None:
    registry = {"aliases": {alias: {"version": trained["version"], "stage": "train"}}, "history": []}
    (_project_dir(config) / "registry.json").write_text(json.dumps(registry))


def test_evaluate_challenger_worse_than_champion_exits_1(mlw, two_models):
    config, strong, weak = two_models
    _promote(config, strong)
    result = _evaluate(mlw, config, "evaluate.require_better_than=production", model=weak["version"], code=1)
    data = result.json()
    champion = data["info"]["champion"]
    assert champion["champion"] == f"train/{strong['version']}"
    test = _prepared_split(config, "test")
    theirs = skm.f1_score(test["churned"], _load_model(strong).predict(test), pos_label="yes")
    ours = data["metrics"]["f1"]
    assert champion["metrics"]["f1"] == pytest.approx(theirs)  # same test rows, same metric code
    assert set(champion["difference"]) == set(data["metrics"])
    for name, diff in champion["difference"].items():
        assert diff == pytest.approx(data["metrics"][name] - champion["metrics"][name])
    gate = data["info"]["gates"][-1]
    assert gate["gate"] == "better than production" and gate["passed"] is False
    assert (f"challenger f1 = {ours:.4g} vs train/{strong['version']} {theirs:.4g} (margin 0) "
            f"[better than production]") in result.stderr
    human = mlw("evaluate", "-c", config, "--model", weak["version"],
                "--set", "evaluate.require_better_than=production")
    assert f"challenger vs champion train/{strong['version']}" in human.stdout


def test_evaluate_challenger_better_than_champion_exits_0(mlw, two_models):
    config, strong, weak = two_models
    _promote(config, weak)
    data = _evaluate(mlw, config, "evaluate.require_better_than=production", model=strong["version"]).json()
    assert data["passed"] is True
    improvement = data["info"]["champion"]["difference"]["f1"]
    assert improvement > 0.05
    # the margin is respected: a bigger one than the improvement blocks, a smaller one passes
    _evaluate(mlw, config, "evaluate.require_better_than=production", f"evaluate.margin={improvement + 0.01}",
              model=strong["version"], code=1)
    _evaluate(mlw, config, "evaluate.require_better_than=production", f"evaluate.margin={improvement - 0.01}",
              model=strong["version"])


def test_evaluate_shows_production_without_gating_on_it(mlw, two_models):
    config, strong, weak = two_models
    _promote(config, strong)
    data = _evaluate(mlw, config, model=weak["version"]).json()
    assert data["info"]["champion"]["champion"] == f"train/{strong['version']}"
    assert data["info"]["champion"]["difference"]["f1"] < 0
    assert data["info"]["gates"] == [] and data["passed"] is True


def test_evaluate_require_better_than_a_missing_alias_exits_4(mlw, two_models):
    config, strong, weak = two_models
    _promote(config, strong)
    result = mlw("evaluate", "-c", config, "--set", "evaluate.require_better_than=staging")
    assert result.exit_code == 4
    assert "`evaluate.require_better_than` names alias 'staging', which no model holds yet." in result.stderr
    assert "Promote a model first (mlw models promote)" in result.stderr
    assert _evaluations(config) == []


# ------------------------------------------------------------------ missing and tampered models

def test_evaluate_needs_a_trained_model(mlw, project):
    config = project("churn")
    result = mlw("evaluate", "-c", config)
    assert result.exit_code == 4
    assert "There are no 'train' artifacts" in result.stderr and "Run `mlw train` first." in result.stderr


class _Payload:
    """A pickle that creates a file when it is loaded: proof that a load happened."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("role", ["challenger", "champion"])
def test_evaluate_refuses_a_tampered_model(mlw, two_models, tmp_path, role):
    config, strong, weak = two_models
    _promote(config, strong)
    victim = strong if role == "champion" else weak
    marker = tmp_path / "pwned"
    with open(Path(victim["path"]) / "model.joblib", "wb") as f:
        pickle.dump(_Payload(marker), f)
    result = mlw("evaluate", "-c", config, "--model", weak["version"])
    assert result.exit_code == 4
    assert f"train/{victim['version']} failed its integrity check" in result.stderr
    assert f"train/{victim['version']}/model.joblib does not match its sha256 in manifest.json" in result.stderr
    assert not marker.exists()
    assert _evaluations(config) == []


# ------------------------------------------------------------------ CI

CI_SCRIPT = """\
#!/usr/bin/env bash
# A CI job: build the model, then deploy only when evaluate's gates pass.
set -euo pipefail
mlw() { "$PYTHON" -m mlflow_cli "$@"; }
mlw ingest -c mlw.yaml
mlw prepare -c mlw.yaml
mlw train -c mlw.yaml
status=0
mlw evaluate -c mlw.yaml --set "evaluate.gates={accuracy: \\"$GATE\\"}" || status=$?
if [ "$status" -eq 0 ]; then
  echo DEPLOY
elif [ "$status" -eq 1 ]; then
  echo BLOCKED
else
  echo "evaluate failed with exit code $status" >&2
  exit "$status"
fi
"""


def test_evaluate_drives_a_ci_script(tmp_path):
    shutil.copy(DATA / "iris.csv", tmp_path / "iris.csv")
    write_config(tmp_path, {"project": "iris", "data": {"source": {"path": "iris.csv"}, "target": "species"},
                            "prepare": {"split": {"test_size": 0.3, "seed": 1}},
                            "train": {"model": "logistic_regression", "params": {"C": 0.05}}})
    script = tmp_path / "ci.sh"
    script.write_text(CI_SCRIPT)

    def ci(gate: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "PYTHON": sys.executable, "GATE": gate}
        return subprocess.run(["bash", str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=300)

    passed = ci(">= 0.8")
    assert passed.returncode == 0, passed.stderr
    assert passed.stdout.strip().splitlines()[-1] == "DEPLOY"
    blocked = ci(">= 0.99")
    assert blocked.returncode == 0, blocked.stderr
    assert blocked.stdout.strip().splitlines()[-1] == "BLOCKED"
    assert "1 gate failed" in blocked.stderr and "required >= 0.99 [accuracy]" in blocked.stderr
    broken = ci("at least 0.8")  # a usage error is neither a deploy nor a block
    assert broken.returncode == 2
    assert "DEPLOY" not in broken.stdout and "BLOCKED" not in broken.stdout
    assert "evaluate failed with exit code 2" in broken.stderr
