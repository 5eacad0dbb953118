"""Service health from the prediction log (`mlw monitor --log`): traffic per hour, latency
percentiles, the share of requests refused (4xx, by reason), the model versions that answered
and rows per request. Folded chunk by chunk (data/prediction_log.py), in bounded memory: one
latency per request (summarised past a limit), counts per hour, version and reason.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from mlflow_cli.stages.monitor.current import NumericValues


class Health:
    def __init__(self) -> None:
        self.latency = NumericValues()       # one value per answered request
        self.answered = 0                    # requests answered (their first row)
        self.rows = 0                        # rows predicted
        self.max_rows = 0
        self.refused: Counter = Counter()    # reason -> requests
        self.refused_rows = 0
        self.statuses: Counter = Counter()
        self.hours: Counter = Counter()      # "2024-01-31T23" -> requests (answered or refused)
        self.refused_hours: Counter = Counter()
        self.versions: Counter = Counter()   # train version -> rows
        self.endpoints: Counter = Counter()  # endpoint -> requests
        self.first: str | None = None
        self.last: str | None = None

    def add(self, rows: list[dict[str, Any]], refused: list[dict[str, Any]]) -> None:
        latencies = []
        for entry in rows:
            self.rows += 1
            self.versions[entry.get("model_version")] += 1
            if entry.get("row", 0) == 0:  # a request's first row carries its request-level facts
                self.answered += 1
                latencies.append(float(entry.get("latency_ms") or 0.0))
                self.hours[entry["ts"][:13]] += 1
                self.endpoints[entry.get("endpoint")] += 1
            self.max_rows = max(self.max_rows, int(entry.get("row", 0)) + 1)
            self._seen(entry["ts"])
        for entry in refused:
            self.refused[str(entry.get("error") or "unknown")] += 1
            self.statuses[int(entry.get("status") or 0)] += 1
            self.refused_rows += int(entry.get("rows") or 0)
            self.hours[entry["ts"][:13]] += 1
            self.refused_hours[entry["ts"][:13]] += 1
            self.endpoints[entry.get("endpoint")] += 1
            self._seen(entry["ts"])
        if latencies:
            self.latency.add(np.asarray(latencies, dtype=float))

    def _seen(self, ts: str) -> None:
        if self.first is None or ts < self.first:
            self.first = ts
        if self.last is None or ts > self.last:
            self.last = ts

    def result(self) -> dict[str, Any]:
        requests = self.answered + sum(self.refused.values())
        latency = self.latency.result()
        percentiles: dict[str, float | None] = {}
        for level in (50, 95, 99):
            if isinstance(latency, np.ndarray):
                value = float(np.percentile(latency, level)) if len(latency) else None
            else:
                value = float(latency.quantile(level / 100)) if latency.count else None
            percentiles[f"latency_p{level}_ms"] = value
        return {
            "requests": requests, "answered": self.answered, "refused": sum(self.refused.values()),
            "error_rate": (sum(self.refused.values()) / requests) if requests else None,
            "errors": dict(self.refused.most_common()), "statuses": {str(k): v for k, v in self.statuses.items()},
            "refused_rows": self.refused_rows, "rows": self.rows,
            "rows_per_request": (self.rows / self.answered) if self.answered else None,
            "max_rows_per_request": self.max_rows, **percentiles,
            "traffic": [{"hour": hour + ":00", "requests": n, "refused": self.refused_hours.get(hour, 0)}
                        for hour, n in sorted(self.hours.items())],
            "model_versions": {str(k): v for k, v in self.versions.most_common()},
            "endpoints": {str(k): v for k, v in self.endpoints.most_common()},
            "first": self.first, "last": self.last,
        }
