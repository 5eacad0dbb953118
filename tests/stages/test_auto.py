"""`model: auto` (stages/train/auto.py): the metric that chooses, the budget that tunes, the
ensemble it keeps, LightGBM and CatBoost as candidates; and the positive class a binary
problem's precision, recall and f1 are of (data.positive_class, else the minority class).

The suite runs with MLW_TIME_BUDGET_S=0 (conftest.py): defaults only, unless a test sets
train.time_budget_s. Ingest + prepare run once per dataset; each test trains in its own copy.
"""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import pandas as pd
import pytest
import yaml

from ..conftest import DATA, run_mlw

BREAST = {"data": {"source": {"path": "breast_cancer.csv"}, "target": "diagnosis"},
          "prepare": {"split": {"test_size": 0.2, "seed": 42}}, "train": {"task": "classification"}}
PROJECTS = {
    "breast_cancer": ("breast_cancer.csv", BREAST),
    "iris": ("iris.csv", {"data": {"source": {"path": "iris.csv"}, "target": "species"},
                          "train": {"task": "classification"}}),
    "diabetes": ("diabetes.csv", {"data": {"source": {"path": "diabetes.csv"}, "target": "progression"},
                                  "train": {"task": "regression"}}),
    "churn": ("churn.csv", {"data": {"source": {"path": "churn.csv"}, "target": "churned",
                                     "id_columns": ["customer_id"]},
                            "prepare": {"split": {"test_size": 0.2, "valid_size": 0.1, "seed": 42}},
                            "train": {"task": "classification"}}),
}
FAST = "train.candidates=[logistic_regression, naive_bayes, decision_tree]"


def _train(mlw, config: Path, *sets: str) -> dict:
    result = mlw("train", "-c", config, "--json", *(a for s in sets for a in ("--set", s)))
    assert result.exit_code == 0, result.stderr
    return result.json()


def _prepared(config: Path, name: str) -> tuple[pd.DataFrame, object]:
    folder = config.parent / "artifacts" / yaml.safe_load(config.read_text())["project"] / "prepare"
    version = folder / (folder / "latest").read_text().strip()
    return pd.read_parquet(version / f"{name}.parquet"), joblib.load(version / "preprocessor.joblib")


# ------------------------------------------------------------------ the metric that chooses

@pytest.mark.parametrize("name, metric", [("breast_cancer", "roc_auc"), ("iris", "log_loss"),
                                          ("diabetes", "rmse")])
def test_auto_chooses_by_a_proper_metric_of_the_task_and_says_which(mlw, project, name, metric):
    config = project(name)
    candidates = FAST if name != "diabetes" else "train.candidates=[ridge, lasso, decision_tree]"
    info = _train(mlw, config, candidates)["info"]
    assert info["metric"] == metric
    board = [row for row in info["leaderboard"] if row["model"] != "ensemble"]
    assert len(board) == 3 and all(row["trials"] == 1 and row["params"] == {} for row in board)
    for row in info["leaderboard"]:
        assert row["score"] == pytest.approx(row["cv"][metric]["mean"])
    sign = -1 if metric in ("log_loss", "rmse") else 1
    scores = [sign * row["score"] for row in info["leaderboard"]]
    assert scores == sorted(scores, reverse=True) and info["leaderboard"][0]["model"] == info["model"]
    shown = mlw("train", "-c", config, "--set", candidates, "--force")
    assert shown.exit_code == 0 and f"model: auto, chosen by {metric} by cross-validation" in shown.stdout


def test_train_metric_still_overrides_the_choice(mlw, project):
    info = _train(mlw, project("breast_cancer"), FAST, "train.metric=accuracy")["info"]
    assert info["metric"] == "accuracy"
    assert all("accuracy" in row["cv"] for row in info["leaderboard"])


# ------------------------------------------------------------------ the ensemble

def test_the_ensemble_scores_what_scikit_learns_voting_classifier_scores_on_the_same_folds(mlw, project):
    """Its CV score comes from the members' out-of-fold probabilities, without refitting: it must
    equal cross-validating scikit-learn's own soft VotingClassifier with those weights."""
    from sklearn.base import clone
    from sklearn.ensemble import VotingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.naive_bayes import GaussianNB
    from sklearn.pipeline import Pipeline
    from sklearn.tree import DecisionTreeClassifier

    config = project("breast_cancer")
    result = _train(mlw, config, FAST)
    info = result["info"]
    assert info["model"] == "ensemble" and info["estimator"] == "sklearn.ensemble.VotingClassifier"
    row = info["leaderboard"][0]
    assert row["model"] == "ensemble" and row["rank"] == 1
    weights = row["members"]
    assert len(weights) >= 2 and sum(weights.values()) == pytest.approx(1, abs=1e-3)
    assert info["params"]["voting"] == "soft" and set(info["params"]["members"]) == set(weights)
    best_single = info["leaderboard"][1]
    assert row["score"] > best_single["score"]  # kept because it beats the best single model

    saved = joblib.load(Path(result["path"]) / "model.joblib")
    voting = saved.named_steps["model"]
    assert isinstance(voting, VotingClassifier) and voting.voting == "soft"
    assert dict(zip([n for n, _ in voting.estimators], voting.weights)) == pytest.approx(weights, abs=1e-3)

    train, preprocessor = _prepared(config, "train")
    models = {"logistic_regression": LogisticRegression(max_iter=2000, random_state=42),
              "naive_bayes": GaussianNB(), "decision_tree": DecisionTreeClassifier(random_state=42)}
    ours = VotingClassifier([(n, models[n]) for n in weights], voting="soft", weights=list(weights.values()))
    pipeline = Pipeline([("preprocess", clone(preprocessor)), ("model", ours)])
    folds = StratifiedKFold(3, shuffle=True, random_state=42)  # the quick folds of a budget of 0
    theirs = cross_val_score(pipeline, train, train["diagnosis"], cv=folds, scoring="roc_auc")
    assert row["score"] == pytest.approx(theirs.mean(), abs=2e-3)

    # it serves the whole path: evaluate scores it, predict writes its labels and probabilities
    evaluated = mlw("evaluate", "-c", config, "--json")
    assert evaluated.exit_code == 0, evaluated.stderr
    assert evaluated.json()["metrics"]["roc_auc"] > 0.97
    importances = json.loads((Path(result["path"]) / "importances.json").read_text())
    # the members' own importances, weighted, when all have them (naive Bayes has none: permutation)
    assert importances["kind"] == ("permutation" if "naive_bayes" in weights else "native")
    assert len(importances["values"]) == 30


def test_one_candidate_is_never_an_ensemble(mlw, project):
    info = _train(mlw, project("breast_cancer"), "train.candidates=[logistic_regression]")["info"]
    assert info["model"] == "logistic_regression" and [r["model"] for r in info["leaderboard"]] == \
        ["logistic_regression"]


# ------------------------------------------------------------------ the budget

def test_a_budget_tunes_the_best_families_within_it(mlw, project):
    budget = 6
    info = _train(mlw, project("breast_cancer"), f"train.time_budget_s={budget}",
                  "train.candidates=[logistic_regression, decision_tree]")["info"]
    rows = {row["model"]: row for row in info["leaderboard"]}
    tuned = [rows[name] for name in ("logistic_regression", "decision_tree") if rows[name]["trials"] > 1]
    assert tuned == [rows["logistic_regression"]]  # decision_tree has no search space
    assert rows["logistic_regression"]["trials"] >= 3
    spent = sum(row["seconds"] for row in info["leaderboard"] if row["model"] != "ensemble")
    longest = max(row["seconds"] / row["trials"] for row in info["leaderboard"] if row.get("trials"))
    assert spent <= budget + 4 * longest + 2  # the last trials may finish after the budget
    best = rows["logistic_regression"]
    if best["params"]:  # a tuned C won over the default one
        assert set(best["params"]) == {"C"} and 1e-3 <= best["params"]["C"] <= 100
    assert info["cv"] == info["leaderboard"][0]["cv"]


def test_the_search_shares_its_time_so_a_cheap_family_gets_more_trials(mlw, project):
    """logistic regression's trials take a fraction of a random forest's, and it leads (a double
    share): it gets many times the forest's tuned trials. Taking turns, the leader twice a
    round, would give it two per forest trial."""
    info = _train(mlw, project("breast_cancer"), "train.time_budget_s=15",
                  "train.candidates=[logistic_regression, random_forest]")["info"]
    rows = {row["model"]: row for row in info["leaderboard"]}
    assert rows["logistic_regression"]["score"] > rows["random_forest"]["score"]  # the leader
    cheap, dear = rows["logistic_regression"]["trials"] - 1, rows["random_forest"]["trials"] - 1  # tuned
    assert dear >= 1  # the forest was tuned too
    assert cheap >= 8 * dear, (cheap, dear)  # here: 21 to 1; counting trials, not seconds: 11 to 3


def test_each_family_gets_its_share_of_the_time_the_leader_a_double_one():
    """The scheduler on simulated trials of 0.1 s, 1 s and 3 s over 60 s: the leader (the 1 s
    family) ends with twice the others' time, each within one trial of its share; taking turns
    would have given the 3 s family most of the time."""
    from mlflow_cli.stages.train.auto import LEADER_SHARE, next_family

    cost = {"cheap": 0.1, "leader": 1.0, "dear": 3.0}
    best = {"cheap": 0.90, "leader": 0.95, "dear": 0.93}
    spent = dict.fromkeys(cost, 0.0)
    trials = dict.fromkeys(cost, 0)
    while sum(spent.values()) < 60:
        name = next_family(list(cost), spent, best)
        spent[name] += cost[name]
        trials[name] += 1
    share = sum(spent.values()) / (LEADER_SHARE + 2)
    assert spent["leader"] == pytest.approx(LEADER_SHARE * share, abs=cost["dear"])
    for name in ("cheap", "dear"):
        assert spent[name] == pytest.approx(share, abs=cost["dear"])
    assert trials["cheap"] > 4 * trials["leader"] > 4 * trials["dear"]


def test_the_ensemble_chooses_among_each_familys_three_best_configurations():
    """auto's ensemble pool: each family's three best configurations by score, the best keeping
    the family's name and the others numbered; unscored configurations are left out."""
    import numpy as np

    from mlflow_cli.stages.train.auto import AutoSearch, Evaluated

    def scored(model: str, rmse: float) -> Evaluated:
        return Evaluated(model, {"rmse": rmse}, None, [np.zeros(3)], np.array([rmse]), {}, 0.1, 0.1)

    search = object.__new__(AutoSearch)  # the pool needs only the metric's direction and the folds' shape
    search.sign = -1.0
    search.folds = type("Folds", (), {"prediction_ndim": 1})()
    evaluated = [scored("lightgbm", v) for v in (3.0, 1.0, 2.0, 5.0, 4.0)] + \
                [scored("ridge", 2.5), scored("ridge", float("nan"))]
    pool = search._pool(evaluated)
    assert [(name, e.score) for name, e in pool.items()] == \
        [("lightgbm", 1.0), ("lightgbm_2", 2.0), ("ridge", 2.5), ("lightgbm_3", 3.0)]  # best first


def test_a_budget_of_0_compares_the_defaults_only(mlw, project):
    info = _train(mlw, project("iris"), "train.time_budget_s=0", FAST)["info"]
    assert all(row["trials"] == 1 and row["params"] == {} for row in info["leaderboard"]
               if row["model"] != "ensemble")


def test_a_bad_budget_in_the_environment_is_a_usage_error(project):
    config = project("iris")
    result = run_mlw("train", "-c", config, env={"MLW_TIME_BUDGET_S": "soon"})
    assert result.exit_code == 2
    assert "$MLW_TIME_BUDGET_S is 'soon', which is not a number of seconds." in result.stderr
    assert "Traceback" not in result.stderr


# ------------------------------------------------------------------ LightGBM and CatBoost

@pytest.mark.parametrize("model", ["lightgbm", "catboost"])
def test_lightgbm_and_catboost_train_on_messy_columns_quietly(mlw, project, model, tmp_path, monkeypatch):
    """Churn has text, dates and categories (sparse features); nothing of theirs reaches the
    terminal or the working folder (CatBoost writes catboost_info/ unless told not to)."""
    monkeypatch.chdir(tmp_path)
    config = project("churn")
    result = mlw("train", "-c", config, "--json", "--set", f"train.model={model}")
    assert result.exit_code == 0, result.stderr
    info = result.json()["info"]
    assert info["model"] == model and info["classes"] == ["no", "yes"]
    assert "[LightGBM]" not in result.stderr and "Learning rate set to" not in result.stderr
    assert not (tmp_path / "catboost_info").exists() and not (config.parent / "catboost_info").exists()
    evaluated = mlw("evaluate", "-c", config, "--json")
    assert evaluated.exit_code == 0, evaluated.stderr
    assert evaluated.json()["metrics"]["roc_auc"] > 0.75


def test_auto_tries_lightgbm_and_catboost_when_installed(mlw, project):
    info = _train(mlw, project("iris"))["info"]
    names = [row["model"] for row in info["leaderboard"]]
    assert {"lightgbm", "catboost", "xgboost", "hist_gradient_boosting", "logistic_regression",
            "random_forest"} <= set(names)


# ------------------------------------------------------------------ the positive class

@pytest.fixture
def cancer(tmp_path):
    """Breast cancer with the minority class sorted first ('cancer' < 'healthy'), where the old
    rule (the second sorted class) would have named the majority."""
    from ..conftest import write_config

    frame = pd.read_csv(DATA / "breast_cancer.csv")
    frame["diagnosis"] = frame["diagnosis"].map({"malignant": "cancer", "benign": "healthy"})
    frame.to_csv(tmp_path / "cancer.csv", index=False)
    config = write_config(tmp_path, {"project": "cancer", "data": {"source": {"path": "cancer.csv"},
                                                                    "target": "diagnosis"},
                                     "prepare": {"split": {"test_size": 0.25, "seed": 1}},
                                     "train": {"model": "logistic_regression"}})
    for stage in ("ingest", "prepare"):
        assert run_mlw(stage, "-c", config).exit_code == 0
    return config


def _f1_of(config: Path, evaluated: dict, positive: str) -> float:
    from sklearn.metrics import f1_score, precision_score

    predictions = pd.read_parquet(Path(evaluated["path"]) / "predictions.parquet")
    truth, predicted = predictions["diagnosis"], predictions["prediction"]
    assert evaluated["metrics"]["precision"] == pytest.approx(precision_score(truth, predicted, pos_label=positive))
    return f1_score(truth, predicted, pos_label=positive)


def test_the_positive_class_is_the_minority_unless_the_config_names_one(mlw, cancer):
    trained = _train(mlw, cancer)
    assert trained["info"]["positive_class"] == "cancer" and trained["info"]["positive_source"] == "minority"
    result = mlw("evaluate", "-c", cancer, "--json")
    assert result.exit_code == 0, result.stderr
    evaluated = result.json()
    assert evaluated["info"]["positive_class"] == "cancer"
    assert evaluated["metrics"]["f1"] == pytest.approx(_f1_of(cancer, evaluated, "cancer"))
    human = mlw("evaluate", "-c", cancer)
    assert "positive class cancer (the minority class; set data.positive_class to choose)" in human.stderr

    trained = _train(mlw, cancer, "data.positive_class=healthy")
    assert trained["info"]["positive_class"] == "healthy" and trained["info"]["positive_source"] == "config"
    result = mlw("evaluate", "-c", cancer, "--json", "--set", "data.positive_class=healthy")
    assert result.exit_code == 0, result.stderr
    evaluated = result.json()
    assert evaluated["metrics"]["f1"] == pytest.approx(_f1_of(cancer, evaluated, "healthy"))
    assert evaluated["metrics"]["f1"] > 0.9  # the majority class is easy to find
    assert "pr_curve" in evaluated["info"]["plots"]


def test_a_positive_class_the_target_lacks_is_a_usage_error(mlw, cancer):
    result = mlw("train", "-c", cancer, "--set", "data.positive_class=sick")
    assert result.exit_code == 2
    assert ("`data.positive_class` is 'sick', which is not a class of the target 'diagnosis' "
            "(its classes: cancer, healthy).") in result.stderr
    assert "Traceback" not in result.stderr
    result = mlw("train", "-c", cancer, "--set", "data.positive_class=yes")  # YAML: True
    assert result.exit_code == 2
    assert "`data.positive_class` is True (YAML reads an unquoted yes, no, true or false as a boolean)" \
        in result.stderr


def test_an_unquoted_yes_names_the_class_spelt_yes(mlw, project):
    """churn's target is 'yes'/'no': `positive_class: no` (YAML's False) means the label 'no'."""
    config = project("churn")
    info = _train(mlw, config, "train.model=logistic_regression", "data.positive_class=no")["info"]
    assert info["positive_class"] == "no" and info["positive_source"] == "config"


def test_a_numeric_positive_class_names_the_label_it_spells(mlw, tmp_path):
    from ..conftest import write_config

    frame = pd.read_csv(DATA / "breast_cancer.csv")
    frame["diagnosis"] = (frame["diagnosis"] == "benign").astype(int)  # 1 = benign, the majority
    frame.to_csv(tmp_path / "numbers.csv", index=False)
    config = write_config(tmp_path, {"project": "numbers", "data": {"source": {"path": "numbers.csv"},
                                                                     "target": "diagnosis", "positive_class": 1},
                                     "train": {"task": "classification", "model": "logistic_regression"}})
    for stage in ("ingest", "prepare"):
        assert mlw(stage, "-c", config).exit_code == 0
    info = _train(mlw, config)["info"]
    assert info["positive_class"] == 1 and info["classes"] == [0, 1]
    without = _train(mlw, config, "data.positive_class=null")["info"]
    assert without["positive_class"] == 0  # the minority


def test_runs_show_keeps_the_leaderboard(mlw, project):
    config = project("breast_cancer")
    trained = _train(mlw, config, FAST)
    shown = mlw("runs", "show", trained["version"], "-c", config)
    assert shown.exit_code == 0, shown.stderr
    assert "model: auto, chosen by roc_auc by cross-validation" in shown.stdout
    for row in trained["info"]["leaderboard"]:
        assert row["model"] in shown.stdout
    as_json = mlw("runs", "show", trained["version"], "-c", config, "--json").json()
    assert as_json["info"]["leaderboard"] == trained["info"]["leaderboard"]
