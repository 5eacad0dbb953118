"""models/tasks/: one definition per task, and the stages follow it (a new task is one module)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlflow_cli.models import tasks
from mlflow_cli.models.catalog import AUTO_CANDIDATES, CATALOG
from mlflow_cli.models.metrics import GREATER_IS_BETTER, TASK_METRICS, default_metric
from mlflow_cli.reports.plots import TASK_PLOTS, make_plots


def test_every_task_module_is_registered_and_named_after_its_task():
    folder = Path(tasks.__file__).parent
    modules = {p.stem for p in folder.glob("*.py")} - {"__init__", "task"}
    assert modules == set(tasks.TASKS) == {"classification", "regression", "clustering", "recommendation"}
    for name, task in tasks.TASKS.items():
        assert task.name == name and tasks.task_named(name) is task
    with pytest.raises(ValueError, match="task must be one of classification, regression, clustering, recommendation"):
        tasks.task_named("ranking")


def test_the_catalogue_of_metrics_is_built_from_the_tasks():
    for name, task in tasks.TASKS.items():
        assert TASK_METRICS[name] == task.metrics
        assert task.lower_is_better <= set(task.metrics)
        assert all(GREATER_IS_BETTER[m] is (m not in task.lower_is_better) for m in task.metrics)
        assert task.default_metric() in task.metrics and set(task.cv_report) <= set(task.metrics)
        assert AUTO_CANDIDATES[name] == list(task.auto_candidates)
        assert all(name in CATALOG[model].classes for model in task.auto_candidates)
    assert default_metric("classification", 3) == "log_loss" and default_metric("classification", 2) == "roc_auc"
    assert [t.default_split for t in tasks.TASKS.values()] == ["stratified", "random", "random", "random"]
    assert [t.supervised for t in tasks.TASKS.values()] == [True, True, False, False]
    assert [t.prediction for t in tasks.TASKS.values()] == ["label", "value", "cluster", "items"]
    assert [t.interactions for t in tasks.TASKS.values()] == [False, False, False, True]


def test_each_task_draws_the_plots_it_names(tmp_path):
    rng = np.random.default_rng(0)
    y = np.array(["no", "yes"] * 50)
    p = rng.random(100)
    given = {
        "classification": dict(y_true=y, y_pred=np.where(p > 0.5, "yes", "no"),
                               proba=np.column_stack([1 - p, p]), classes=["no", "yes"]),
        "regression": dict(y_true=rng.normal(size=100), y_pred=rng.normal(size=100)),
        "clustering": dict(y_pred=rng.integers(0, 3, size=100)),
        "recommendation": dict(ranking={"activity": rng.integers(1, 200, 100), "k": 10, "bins": 5,
                                        "ndcg": {"ease": rng.random(100), "popularity": rng.random(100) / 2}}),
    }
    assert set(tasks.TASKS) <= set(TASK_PLOTS)
    for name, task in tasks.TASKS.items():
        written = make_plots(tmp_path / name, name, **given[name])
        assert tuple(written) == task.plots
        assert all((tmp_path / name / f"{plot}.png").is_file() for plot in task.plots)
