"""The tasks mlw learns, one module each (classification.py, regression.py, clustering.py,
recommendation.py): its metrics, split default, outputs and plots (task.py says what a task
defines). A new task is one new module added to TASKS."""

from __future__ import annotations

from mlflow_cli.models.tasks import classification, clustering, recommendation, regression
from mlflow_cli.models.tasks.task import Task

TASKS: dict[str, Task] = {t.name: t for t in (classification.TASK, regression.TASK, clustering.TASK,
                                              recommendation.TASK)}


def task_named(name: str) -> Task:
    """The task called `name`, or ValueError listing the tasks."""
    found = TASKS.get(name)
    if found is None:
        raise ValueError(f"task must be one of {', '.join(TASKS)}; got {name!r}")
    return found
