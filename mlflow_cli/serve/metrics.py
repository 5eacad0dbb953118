"""Prometheus metrics for `GET /metrics`, in a registry of the app's own (never the global
one, so two apps in one process, as in tests, do not collide).

- `mlw_requests_total{endpoint, status}`: requests by route template and status code.
- `mlw_request_duration_seconds{endpoint}`: latency histogram, request start to last byte.
- `mlw_rows_predicted_total{endpoint}`: rows scored.
- `mlw_predictions_total{class}` (classifiers): predicted rows per class.
- `mlw_predicted_value` (other models): count and sum of predicted values, plus
  `mlw_predicted_value_min` / `_max`: the range seen since start.
- `mlw_model_info{project, version, alias, task, model}`: 1 for the version being served.
- `mlw_model_reloads_total{outcome}`: alias moves followed (swapped) or refused (failed).

Updates are vectorised per request (np.unique, sums), never per row. With several worker
processes each keeps its own numbers; scrape each worker or run one worker per container.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
from prometheus_client import (CollectorRegistry, Counter, Gauge, Histogram, Info, disable_created_metrics,
                               generate_latest)
from prometheus_client.core import GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from mlflow_cli.serve.model import ServedModel

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class _ValueSummary:
    """Count, sum, min and max of predicted values, updated a whole array at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0
        self.total = 0.0
        self.low = float("inf")
        self.high = float("-inf")

    def observe(self, values: np.ndarray) -> None:
        finite = values[np.isfinite(values)]
        if not len(finite):
            return
        with self._lock:
            self.count += len(finite)
            self.total += float(finite.sum())
            self.low = min(self.low, float(finite.min()))
            self.high = max(self.high, float(finite.max()))

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            yield SummaryMetricFamily("mlw_predicted_value", "Predicted values (regression and other "
                                                             "non-classifier models).",
                                      count_value=self.count, sum_value=self.total)
            if self.count:
                yield GaugeMetricFamily("mlw_predicted_value_min", "Smallest predicted value since start.",
                                        value=self.low)
                yield GaugeMetricFamily("mlw_predicted_value_max", "Largest predicted value since start.",
                                        value=self.high)


class ServeMetrics:
    def __init__(self) -> None:
        disable_created_metrics()  # no `_created` twin per series: half the scrape, nothing lost
        self.registry = CollectorRegistry()
        self.requests = Counter("mlw_requests", "HTTP requests by endpoint and status code.",
                                ["endpoint", "status"], registry=self.registry)
        self.latency = Histogram("mlw_request_duration_seconds", "Request latency, first byte in to last byte out.",
                                 ["endpoint"], buckets=BUCKETS, registry=self.registry)
        self.rows = Counter("mlw_rows_predicted", "Rows scored.", ["endpoint"], registry=self.registry)
        self.classes = Counter("mlw_predictions", "Predicted rows per class (classifiers).", ["class"],
                               registry=self.registry)
        self.values = _ValueSummary()
        self.registry.register(self.values)  # type: ignore[arg-type]
        self.model = Info("mlw_model", "The model being served (value 1).", registry=self.registry)
        self.reloads = Counter("mlw_model_reloads", "Alias moves: swapped in, or refused (kept the old model).",
                               ["outcome"], registry=self.registry)

    def watch_log(self, predlog: Any) -> None:
        """Export the prediction log's backlog (rows answered and not yet written)."""
        pending = Gauge("mlw_prediction_log_pending_rows", "Rows answered and not yet written to the prediction "
                                                           "log (requests wait when it reaches its bound).",
                        registry=self.registry)
        pending.set_function(lambda: predlog.pending)

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)

    def observe_predictions(self, model: ServedModel, endpoint: str, predictions: np.ndarray) -> None:
        self.rows.labels(endpoint).inc(len(predictions))
        if model.is_classifier:
            for label, count in collections.Counter(predictions.astype(str).tolist()).items():
                self.classes.labels(label).inc(count)
        elif predictions.dtype.kind in "iuf":
            self.values.observe(predictions.astype(float))

    def set_model(self, model: ServedModel) -> None:
        self.model.info({"project": model.project, "version": model.version, "alias": model.alias or "",
                         "task": model.task, "model": model.estimator_name or ""})

    def render(self) -> bytes:
        return generate_latest(self.registry)
