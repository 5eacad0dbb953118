"""The metric catalogue: values against direct scikit-learn calls, omission rules, CV
scorers, gate parsing and the messages for bad metric names."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import sparse
from sklearn import metrics as skm
from sklearn.datasets import make_blobs, make_classification
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score, cross_validate
from sklearn.preprocessing import label_binarize

from mlflow_cli.models.tasks import clustering as clustering_task
from mlflow_cli.core.errors import ConfigError
from mlflow_cli.models.metrics import (
    GREATER_IS_BETTER,
    TASK_METRICS,
    check_metric_names,
    classification_metrics,
    clustering_metrics,
    compare,
    compute_metrics,
    confusion,
    default_metric,
    make_scorer_for,
    parse_gate,
    per_class_report,
    regression_metrics,
    scorer_sign,
)

from ..conftest import REPO


# --------------------------------------------------------------------------- data


@pytest.fixture
def binary():
    """String labels where the positive class ("yes") is the second sorted label."""
    rng = np.random.default_rng(0)
    y_true = rng.choice(["no", "yes"], size=200, p=[0.6, 0.4])
    p_yes = np.clip(np.where(y_true == "yes", 0.65, 0.35) + rng.normal(0, 0.2, 200), 0.01, 0.99)
    y_pred = np.where(p_yes >= 0.5, "yes", "no")
    proba = np.column_stack([1 - p_yes, p_yes])
    return y_true, y_pred, proba, np.array(["no", "yes"])


@pytest.fixture
def multiclass():
    rng = np.random.default_rng(1)
    classes = np.array([0, 1, 2])
    y_true = rng.integers(0, 3, size=300)
    logits = rng.normal(0, 1, (300, 3))
    logits[np.arange(300), y_true] += 1.5
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y_pred = classes[proba.argmax(axis=1)]
    return y_true, y_pred, proba, classes


@pytest.fixture
def regression():
    rng = np.random.default_rng(2)
    y_true = rng.uniform(1, 100, 150)
    y_pred = y_true + rng.normal(0, 5, 150)
    return y_true, y_pred


@pytest.fixture
def blobs():
    X, y = make_blobs(n_samples=300, centers=3, n_features=4, random_state=3)
    labels = np.where(np.arange(300) % 17 == 0, (y + 1) % 3, y)   # mostly right, a few off
    return X, labels, y


def _is_plain_float_dict(result: dict) -> bool:
    return all(type(v) is float for v in result.values())


# --------------------------------------------------------------------------- catalogue


def test_metrics_catalogue_names_and_direction():
    assert TASK_METRICS["classification"] == (
        "accuracy", "balanced_accuracy", "precision", "recall", "f1",
        "precision_macro", "recall_macro", "f1_macro",
        "precision_weighted", "recall_weighted", "f1_weighted", "roc_auc", "pr_auc", "log_loss")
    assert TASK_METRICS["regression"] == ("mse", "rmse", "mae", "r2", "mape", "median_ae")
    assert TASK_METRICS["clustering"] == ("silhouette", "davies_bouldin", "calinski_harabasz", "ari", "nmi")
    assert TASK_METRICS["recommendation"] == ("ndcg", "precision", "recall", "map", "hit_rate", "coverage",
                                              "mean_popularity", "rmse", "mae")
    every = {name for names in TASK_METRICS.values() for name in names}
    assert set(GREATER_IS_BETTER) == every
    lower = {name for name, greater in GREATER_IS_BETTER.items() if not greater}
    assert lower == {"log_loss", "mse", "rmse", "mae", "mape", "median_ae", "davies_bouldin", "mean_popularity"}


@pytest.mark.parametrize("task, n_classes, expected", [
    ("classification", 2, "roc_auc"),   # proper metrics of the probabilities, as FLAML chooses
    ("classification", 5, "log_loss"),
    ("classification", None, "log_loss"),
    ("regression", None, "rmse"),
    ("clustering", None, "silhouette"),
])
def test_metrics_default_metric(task, n_classes, expected):
    assert default_metric(task, n_classes) == expected
    assert expected in TASK_METRICS[task]


def test_metrics_unknown_task_is_a_programming_error():
    with pytest.raises(ValueError, match="task must be one of"):
        default_metric("ranking")


def test_metrics_import_is_light():
    code = "import mlflow_cli.models.metrics, sys; print('sklearn' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.split() == ["False", "False"]


# --------------------------------------------------------------------------- classification


def test_metrics_binary_string_labels_match_sklearn(binary):
    y_true, y_pred, proba, classes = binary
    result = classification_metrics(y_true, y_pred, proba=proba, classes=classes)
    positive = y_true == "yes"
    expected = {
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y_true, y_pred),
        "precision": skm.precision_score(y_true, y_pred, pos_label="yes"),
        "recall": skm.recall_score(y_true, y_pred, pos_label="yes"),
        "f1": skm.f1_score(y_true, y_pred, pos_label="yes"),
        "precision_macro": skm.precision_score(y_true, y_pred, average="macro"),
        "recall_macro": skm.recall_score(y_true, y_pred, average="macro"),
        "f1_macro": skm.f1_score(y_true, y_pred, average="macro"),
        "precision_weighted": skm.precision_score(y_true, y_pred, average="weighted"),
        "recall_weighted": skm.recall_score(y_true, y_pred, average="weighted"),
        "f1_weighted": skm.f1_score(y_true, y_pred, average="weighted"),
        "roc_auc": skm.roc_auc_score(positive, proba[:, 1]),
        "pr_auc": skm.average_precision_score(positive, proba[:, 1]),
        "log_loss": skm.log_loss(y_true, proba, labels=classes),
    }
    assert list(result) == list(TASK_METRICS["classification"])
    assert result == pytest.approx(expected, rel=1e-12)
    assert _is_plain_float_dict(result)
    # "yes" is the positive label, not "no": the two f1 values differ on this data.
    assert result["f1"] != pytest.approx(skm.f1_score(y_true, y_pred, pos_label="no"))


def test_metrics_binary_classes_inferred_when_not_given(binary):
    y_true, y_pred, proba, classes = binary
    assert classification_metrics(y_true, y_pred, proba) == classification_metrics(y_true, y_pred, proba, classes)


def test_metrics_multiclass_match_sklearn(multiclass):
    y_true, y_pred, proba, classes = multiclass
    result = classification_metrics(y_true, y_pred, proba=proba, classes=classes)
    expected = {
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y_true, y_pred),
        "precision": skm.precision_score(y_true, y_pred, average="macro"),
        "recall": skm.recall_score(y_true, y_pred, average="macro"),
        "f1": skm.f1_score(y_true, y_pred, average="macro"),
        "precision_macro": skm.precision_score(y_true, y_pred, average="macro"),
        "recall_macro": skm.recall_score(y_true, y_pred, average="macro"),
        "f1_macro": skm.f1_score(y_true, y_pred, average="macro"),
        "precision_weighted": skm.precision_score(y_true, y_pred, average="weighted"),
        "recall_weighted": skm.recall_score(y_true, y_pred, average="weighted"),
        "f1_weighted": skm.f1_score(y_true, y_pred, average="weighted"),
        "roc_auc": skm.roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=classes),
        "pr_auc": skm.average_precision_score(label_binarize(y_true, classes=classes), proba, average="macro"),
        "log_loss": skm.log_loss(y_true, proba, labels=classes),
    }
    assert result == pytest.approx(expected, rel=1e-12)
    assert _is_plain_float_dict(result)


def test_metrics_without_proba_omits_proba_metrics(binary):
    y_true, y_pred, _, classes = binary
    result = classification_metrics(y_true, y_pred, classes=classes)
    assert set(result) == set(TASK_METRICS["classification"]) - {"roc_auc", "pr_auc", "log_loss"}


def test_metrics_single_class_y_true_omits_ranking_metrics(binary):
    _, _, proba, classes = binary
    y_true = np.array(["no"] * 200)
    y_pred = np.where(proba[:, 1] >= 0.5, "yes", "no")
    result = classification_metrics(y_true, y_pred, proba=proba, classes=classes)
    assert "roc_auc" not in result and "pr_auc" not in result
    assert result["log_loss"] == pytest.approx(skm.log_loss(y_true, proba, labels=classes))
    assert result["f1"] == 0.0            # no positives, zero_division=0 instead of a warning


def test_metrics_multiclass_missing_class_omits_ranking_metrics(multiclass):
    y_true, y_pred, proba, classes = multiclass
    keep = y_true != 2
    result = classification_metrics(y_true[keep], y_pred[keep], proba=proba[keep], classes=classes)
    assert "roc_auc" not in result and "pr_auc" not in result
    assert "log_loss" in result and "f1_macro" in result


def test_metrics_label_the_model_never_saw(binary):
    y_true, y_pred, proba, classes = binary
    y_true = y_true.copy()
    y_true[:5] = "maybe"
    result = classification_metrics(y_true, y_pred, proba=proba, classes=classes)
    assert "log_loss" not in result       # no column for "maybe": the loss is unbounded
    assert result["f1"] == pytest.approx(skm.f1_score(y_true, y_pred, labels=["yes"], average="micro"))
    assert result["roc_auc"] == pytest.approx(skm.roc_auc_score(y_true == "yes", proba[:, 1]))


def test_metrics_proba_shape_must_match_classes(binary):
    y_true, y_pred, proba, _ = binary
    with pytest.raises(ValueError, match="proba must have shape"):
        classification_metrics(y_true, y_pred, proba=proba, classes=["maybe", "no", "yes"])


def test_metrics_confusion_and_per_class_report(binary):
    y_true, y_pred, _, classes = binary
    result = confusion(y_true, y_pred, classes)
    assert result == {"labels": ["no", "yes"],
                      "matrix": skm.confusion_matrix(y_true, y_pred, labels=classes).tolist()}
    report = per_class_report(y_true, y_pred, classes)
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, labels=classes)
    assert list(report) == ["no", "yes"]
    assert report["yes"] == {"precision": pytest.approx(p[1]), "recall": pytest.approx(r[1]),
                             "f1": pytest.approx(f[1]), "support": int(s[1])}
    json.dumps([result, report])
    assert type(result["labels"][0]) is str and type(report["no"]["support"]) is int


def test_metrics_confusion_keeps_unseen_labels_and_int_labels_are_plain(multiclass):
    y_true, y_pred, _, classes = multiclass
    y_true = y_true.copy()
    y_true[:3] = 7
    result = confusion(y_true, y_pred, classes)
    assert result["labels"] == [0, 1, 2, 7]
    assert all(type(label) is int for label in result["labels"])
    assert sum(map(sum, result["matrix"])) == len(y_true)
    report = per_class_report(y_true, y_pred, classes)
    assert report[7] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 3}
    json.dumps([result, report])


# --------------------------------------------------------------------------- regression


def test_metrics_regression_match_sklearn(regression):
    y_true, y_pred = regression
    result = regression_metrics(y_true, y_pred)
    mse = skm.mean_squared_error(y_true, y_pred)
    assert result == pytest.approx({
        "mse": mse,
        "rmse": math.sqrt(mse),
        "mae": skm.mean_absolute_error(y_true, y_pred),
        "r2": skm.r2_score(y_true, y_pred),
        "mape": skm.mean_absolute_percentage_error(y_true, y_pred),
        "median_ae": skm.median_absolute_error(y_true, y_pred),
    }, rel=1e-12)
    assert list(result) == list(TASK_METRICS["regression"])
    assert _is_plain_float_dict(result)


def test_metrics_regression_one_row_omits_r2():
    result = regression_metrics([3.0], [2.5])
    assert "r2" not in result
    assert result["mae"] == 0.5


# --------------------------------------------------------------------------- clustering


def test_metrics_clustering_match_sklearn(blobs):
    X, labels, y = blobs
    result = clustering_metrics(X, labels, y_true=y)
    assert result == pytest.approx({
        "silhouette": skm.silhouette_score(X, labels),
        "davies_bouldin": skm.davies_bouldin_score(X, labels),
        "calinski_harabasz": skm.calinski_harabasz_score(X, labels),
        "ari": skm.adjusted_rand_score(y, labels),
        "nmi": skm.normalized_mutual_info_score(y, labels),
    }, rel=1e-12)
    assert _is_plain_float_dict(result)


def test_metrics_clustering_without_y_true_has_no_ari_nmi(blobs):
    X, labels, _ = blobs
    assert set(clustering_metrics(X, labels)) == {"silhouette", "davies_bouldin", "calinski_harabasz"}


def test_metrics_clustering_one_cluster_omits_internal_metrics(blobs):
    X, _, y = blobs
    one = np.zeros(len(X), dtype=int)
    assert clustering_metrics(X, one) == {}
    assert set(clustering_metrics(X, one, y_true=y)) == {"ari", "nmi"}


def test_metrics_clustering_sparse_small_is_densified(blobs):
    X, labels, _ = blobs
    assert clustering_metrics(sparse.coo_matrix(X), labels) == pytest.approx(clustering_metrics(X, labels))


def test_metrics_clustering_sparse_large_skips_dense_only_metrics(blobs, monkeypatch):
    X, labels, _ = blobs
    monkeypatch.setattr(clustering_task, "DENSE_CELL_LIMIT", 100)
    result = clustering_metrics(sparse.csr_matrix(X), labels)
    assert result == pytest.approx({"silhouette": skm.silhouette_score(X, labels)})


def test_metrics_clustering_silhouette_is_sampled_and_seeded(blobs, monkeypatch):
    X, labels, _ = blobs
    monkeypatch.setattr(clustering_task, "SILHOUETTE_SAMPLE", 100)
    first = clustering_metrics(X, labels)["silhouette"]
    assert first == clustering_metrics(X, labels)["silhouette"]
    assert first == pytest.approx(skm.silhouette_score(X, labels, sample_size=100, random_state=0))
    assert first != pytest.approx(skm.silhouette_score(X, labels), rel=1e-9)


# --------------------------------------------------------------------------- dispatch


def test_metrics_compute_metrics_dispatches(binary, regression, blobs):
    y_true, y_pred, proba, classes = binary
    assert compute_metrics("classification", y_true, y_pred, proba, classes) == \
        classification_metrics(y_true, y_pred, proba, classes)
    assert compute_metrics("regression", *regression) == regression_metrics(*regression)
    X, labels, y = blobs
    assert compute_metrics("clustering", y, labels, X=X) == clustering_metrics(X, labels, y)
    assert set(compute_metrics("clustering", None, labels, X=X)) == {"silhouette", "davies_bouldin",
                                                                      "calinski_harabasz"}
    with pytest.raises(ValueError, match="clustering metrics need X"):
        compute_metrics("clustering", None, labels)


def test_metrics_results_are_json_serialisable(binary, multiclass, regression, blobs):
    X, labels, y = blobs
    results = [classification_metrics(*binary), classification_metrics(*multiclass),
               regression_metrics(*regression), clustering_metrics(X, labels, y)]
    assert json.loads(json.dumps(results)) == results


# --------------------------------------------------------------------------- scorers


@pytest.fixture
def string_binary_data():
    X, y = make_classification(n_samples=200, n_features=6, weights=[0.7], random_state=4)
    return X, np.where(y == 1, "yes", "no")


def test_metrics_scorer_f1_uses_second_sorted_label(string_binary_data):
    X, y = string_binary_data
    cv = StratifiedKFold(5)
    model = LogisticRegression()
    scores = cross_val_score(model, X, y, cv=cv, scoring=make_scorer_for("f1"))
    expected = [
        skm.f1_score(y[test], model.fit(X[train], y[train]).predict(X[test]), pos_label="yes")
        for train, test in cv.split(X, y)
    ]
    assert scores == pytest.approx(expected, rel=1e-12)


def test_metrics_scorer_sign_and_negated_lower_is_better(string_binary_data):
    X, y = string_binary_data
    model = LogisticRegression().fit(X, y)
    proba = model.predict_proba(X)
    assert scorer_sign("log_loss") == -1 and scorer_sign("f1") == 1
    assert make_scorer_for("log_loss")(model, X, y) == pytest.approx(-skm.log_loss(y, proba))
    assert make_scorer_for("roc_auc")(model, X, y) == pytest.approx(skm.roc_auc_score(y == "yes", proba[:, 1]))
    assert make_scorer_for("pr_auc")(model, X, y) == \
        pytest.approx(skm.average_precision_score(y == "yes", proba[:, 1]))


def test_metrics_scorers_agree_with_held_out_metrics(string_binary_data):
    X, y = string_binary_data
    model = LogisticRegression().fit(X, y)
    held_out = classification_metrics(y, model.predict(X), model.predict_proba(X), model.classes_)
    for name, value in held_out.items():
        assert scorer_sign(name) * make_scorer_for(name)(model, X, y) == pytest.approx(value, rel=1e-12)


def test_metrics_scorers_in_cross_validate_and_search(regression):
    y_true, _ = regression
    X = np.column_stack([y_true, np.random.default_rng(5).normal(size=len(y_true))])
    names = ["rmse", "r2", "mae"]
    out = cross_validate(LinearRegression(), X, y_true, cv=3, scoring={n: make_scorer_for(n) for n in names})
    assert (out["test_rmse"] <= 0).all()           # negated so that CV maximises
    assert (out["test_r2"] > 0.9).all()
    search = GridSearchCV(LinearRegression(), {"fit_intercept": [True, False]}, cv=3,
                          scoring=make_scorer_for("rmse"), n_jobs=2).fit(X, y_true)
    assert search.best_score_ * scorer_sign("rmse") > 0


def test_metrics_scorer_undefined_metric_is_nan(string_binary_data):
    X, y = string_binary_data
    model = LogisticRegression().fit(X, y)
    assert math.isnan(make_scorer_for("roc_auc")(model, X[y == "no"], y[y == "no"]))


@pytest.mark.parametrize("name, message", [
    ("silhouette", "'silhouette' is a clustering metric"),
    ("f2", "unknown metric 'f2'"),
])
def test_metrics_scorer_bad_names(name, message):
    with pytest.raises(ValueError, match=message):
        make_scorer_for(name)


# --------------------------------------------------------------------------- names


def test_metrics_check_metric_names_accepts_valid():
    check_metric_names("classification", ["f1", "roc_auc"], "evaluate.gates")
    check_metric_names("regression", [], "train.metrics")


@pytest.mark.parametrize("task, name, message", [
    ("classification", "f2",
     "`evaluate.gates` names metric 'f2', which does not exist for classification. Did you mean 'f1'?"),
    ("classification", "F1",
     "`evaluate.gates` names metric 'F1', which does not exist for classification. Did you mean 'f1'?"),
    ("classification", "auc",
     "`evaluate.gates` names metric 'auc', which does not exist for classification. Did you mean 'roc_auc'?"),
    ("regression", "neg_mean_squared_error",
     "`evaluate.gates` names metric 'neg_mean_squared_error', which does not exist for regression. "
     "Did you mean 'mse'?"),
    ("regression", "zzz", "`evaluate.gates` names metric 'zzz', which does not exist for regression."),
    ("classification", "rmse",
     "`evaluate.gates` names metric 'rmse', which is a regression metric, not a classification one."),
    ("clustering", "accuracy",
     "`evaluate.gates` names metric 'accuracy', which is a classification metric, not a clustering one."),
])
def test_metrics_check_metric_names_messages(task, name, message):
    with pytest.raises(ConfigError) as info:
        check_metric_names(task, ["f1" if task == "classification" else TASK_METRICS[task][0], name],
                           "evaluate.gates")
    assert info.value.message == message
    assert info.value.hint == f"Metrics for {task} are: {', '.join(TASK_METRICS[task])}."
    assert info.value.exit_code == 2


def test_metrics_where_already_in_backticks_is_not_doubled():
    with pytest.raises(ConfigError, match=r"^`train\.metric` names metric 'f2'"):
        check_metric_names("classification", ["f2"], "`train.metric`")
    with pytest.raises(ConfigError, match=r"^`evaluate\.gates\.f1` must look like"):
        parse_gate("abc", "`evaluate.gates.f1`")


# --------------------------------------------------------------------------- gates


@pytest.mark.parametrize("text, expected", [
    (">= 0.80", (">=", 0.8)),
    ("<=600", ("<=", 600.0)),
    ("> 0.5", (">", 0.5)),
    ("< 1e-3", ("<", 0.001)),
    ("== 1", ("==", 1.0)),
    ("  >=.5  ", (">=", 0.5)),
    (">= -2", (">=", -2.0)),
    ("<= 1E+2", ("<=", 100.0)),
])
def test_metrics_parse_gate_good(text, expected):
    assert parse_gate(text, "evaluate.gates.f1") == expected


@pytest.mark.parametrize("text", ["abc", "", "0.8", "=> 0.8", ">= ", ">= 0.8 0.9", "!= 1", ">= nan",
                                  ">= inf", "=0.8", ">>1", 0.8, None])
def test_metrics_parse_gate_bad(text):
    with pytest.raises(ConfigError) as info:
        parse_gate(text, "evaluate.gates.f1")
    assert info.value.message == f"`evaluate.gates.f1` must look like '>= 0.8'. Got '{text}'."
    assert info.value.hint == ("Write an operator (>=, <=, >, <, ==) and a number, quoted in YAML "
                               "because a leading '>' is YAML syntax: f1: \">= 0.8\".")


@pytest.mark.parametrize("value, op, threshold, expected", [
    (0.85, ">=", 0.8, True), (0.8, ">=", 0.8, True), (0.79, ">=", 0.8, False),
    (0.8, ">", 0.8, False), (500.0, "<=", 600, True), (600.0, "<", 600, False),
    (0.1 + 0.2, "==", 0.3, True), (0.9999999999999999, "==", 1, True), (0.99, "==", 1, False),
    (0.0, "==", 0, True), (float("nan"), ">=", 0.0, False), (float("nan"), "<", 1.0, False),
])
def test_metrics_compare(value, op, threshold, expected):
    assert compare(value, op, threshold) is expected


def test_metrics_compare_unknown_op():
    with pytest.raises(ValueError, match="op must be one of"):
        compare(1.0, "!=", 0.0)
