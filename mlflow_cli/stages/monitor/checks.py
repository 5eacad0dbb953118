"""The judgements of `mlw monitor`: each column's drift and its verdict, the dataset's, the target's
and the predictions'; data quality against prepare's schema; the model's performance on labelled
rows, and estimated from its own probabilities where there are no labels; the gates.

Verdicts (per column): `drift` when the column's test is significant after the Bonferroni
correction (p < drift.p_value / the number of columns compared) AND its effect size reaches the
threshold (Wasserstein / reference std for numbers, Jensen-Shannon distance for categories);
`minor` when it is significant but smaller; `none` otherwise. The test alone would flag every
column of a million rows (any difference is significant there), the effect alone would flag
noise in a thousand: together the verdict stays put from 1,000 to 1,000,000 rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlflow_cli.core.config import DriftConfig
from mlflow_cli.data.drift import categorical_drift, numeric_drift
from mlflow_cli.data.summary import CategoricalSummary, NumericSummary
from mlflow_cli.models.metrics import check_gate
from mlflow_cli.models.reference import Reference

VERDICTS = ("drift", "minor", "none")


# --------------------------------------------------------------------------- drift


def drift_of(reference: Any, current: Any, alpha: float, cfg: DriftConfig) -> dict[str, Any] | None:
    """One distribution against its reference: the statistics and the verdict at significance
    `alpha` (already divided by the number of tests). None when a side has no values."""
    numeric = isinstance(reference, NumericSummary)
    try:
        found = numeric_drift(reference, current) if numeric else categorical_drift(reference, current)
    except ValueError:
        return None
    if numeric:
        entry = {"type": "numeric", "test": "KS", "statistic": found.ks, "p_value": found.p_value,
                 "effect": found.effect, "effect_name": "Wasserstein/std", "wasserstein": found.wasserstein,
                 "psi": found.psi, "threshold": cfg.numeric_effect}
    else:
        entry = {"type": "categorical", "test": "chi-square", "statistic": found.chi2, "p_value": found.p_value,
                 "effect": found.jensen_shannon, "effect_name": "Jensen-Shannon", "psi": found.psi,
                 "new_categories": found.new_categories[:20], "threshold": cfg.categorical_effect}
    significant = found.p_value < alpha
    large = entry["effect"] >= entry["threshold"]
    entry.update(reference_rows=found.reference_rows, current_rows=found.current_rows, alpha=alpha,
                 verdict="drift" if significant and large else "minor" if significant else "none")
    return entry


def data_drift(reference: Reference, current: dict[str, Any], cfg: DriftConfig) -> dict[str, Any]:
    """Every column both sides hold, and the dataset: the share of columns that drift and the
    share of the model's importance they carry."""
    compared = [name for name in reference.columns if name in current]
    alpha = cfg.p_value / max(len(compared), 1)
    columns: dict[str, Any] = {}
    for name in compared:
        kind, summary = reference.columns[name]
        entry = drift_of(summary, current[name], alpha, cfg)
        if entry is not None:
            entry["kind"] = kind
            if reference.importances is not None:
                entry["importance"] = reference.importances.get(name, 0.0)
            columns[name] = entry
    drifted = [name for name, entry in columns.items() if entry["verdict"] == "drift"]
    share = len(drifted) / len(columns) if columns else 0.0
    weighted = None
    if reference.importances is not None and columns:
        total = sum(reference.importances.get(name, 0.0) for name in columns)
        weighted = (sum(reference.importances.get(name, 0.0) for name in drifted) / total) if total > 0 else 0.0
    dataset = share >= cfg.dataset_share or (weighted is not None and weighted >= cfg.dataset_share)
    return {"columns": columns, "compared": len(columns), "drifted": drifted,
            "minor": [name for name, entry in columns.items() if entry["verdict"] == "minor"],
            "drift_share": share, "weighted_drift_share": weighted, "dataset_drift": dataset,
            "dataset_share_threshold": cfg.dataset_share, "alpha": alpha}


# --------------------------------------------------------------------------- quality


def data_quality(reference: Reference, schema: dict[str, Any], tally: Any, *, target: str | None,
                 id_columns: list[str], null_rate_increase: float) -> dict[str, Any]:
    """What is wrong with the current data against the schema prepare recorded, each counted
    and named."""
    names = tally.names or []
    expected = list(schema["columns"])
    missing_columns = [c for c in expected if c not in names]
    known = set(expected) | set(id_columns) | ({target} if target else set())
    extra_columns = [c for c in names if c not in known]
    columns: dict[str, Any] = {}
    for name, q in tally.quality.items():
        kind = schema["columns"][name]["kind"]
        ref = reference.columns.get(name, (kind, None))[1]
        ref_null = _null_share(ref)
        now_null = q.missing / q.rows if q.rows else 0.0
        entry: dict[str, Any] = {"kind": kind, "rows": q.rows, "missing": q.missing, "null_rate": now_null,
                                 "reference_null_rate": ref_null, "unreadable": q.unreadable,
                                 "out_of_range": q.below + q.above, "below_min": q.below, "above_max": q.above,
                                 "new_categories": dict(q.new_categories.most_common(20)),
                                 "new_category_rows": int(sum(q.new_categories.values()))}
        entry["null_rate_increased"] = ref_null is not None and now_null - ref_null > null_rate_increase
        entry["constant"] = _constant(tally.values.get(name)) and not _constant_summary(ref)
        problems = []
        if entry["unreadable"]:
            problems.append(f"{entry['unreadable']:,} values not {_kind_word(kind)}")
        if entry["out_of_range"]:
            problems.append(f"{entry['out_of_range']:,} outside the training range")
        if entry["new_category_rows"]:
            shown = ", ".join(list(entry["new_categories"])[:5])
            problems.append(f"{entry['new_category_rows']:,} rows of unseen categories ({shown})")
        if entry["null_rate_increased"]:
            problems.append(f"missing {now_null:.1%} (training {ref_null:.1%})")
        if entry["constant"]:
            problems.append("a single value")
        entry["problems"] = problems
        columns[name] = entry
    duplicates = tally.duplicated_ids()
    numeric_rows = sum(c["rows"] - c["missing"] for c in columns.values() if c["kind"] in ("numeric", "datetime"))
    out_of_range = sum(c["out_of_range"] for c in columns.values())
    totals = {
        "rows": tally.rows, "missing_columns": len(missing_columns), "extra_columns": len(extra_columns),
        "unreadable_values": sum(c["unreadable"] for c in columns.values()),
        "new_category_rows": sum(c["new_category_rows"] for c in columns.values()),
        "out_of_range_values": out_of_range,
        "out_of_range_share": out_of_range / numeric_rows if numeric_rows else 0.0,
        "null_rate_increases": sum(1 for c in columns.values() if c["null_rate_increased"]),
        "constant_columns": sum(1 for c in columns.values() if c["constant"]),
        "duplicate_ids": duplicates,
    }
    return {"missing": missing_columns, "extra": extra_columns, "columns": columns, **totals}


def _null_share(summary: Any) -> float | None:
    if summary is None:
        return None
    total = summary.count + summary.missing
    return summary.missing / total if total else None


def _constant(acc: Any) -> bool:
    from collections import Counter

    if acc is None:
        return False
    if isinstance(acc, Counter):
        return len([k for k in acc if k is not None]) == 1
    values = acc.result()
    if isinstance(values, NumericSummary):
        return values.count > 1 and values.knots[0] == values.knots[-1]
    return len(values) > 1 and values.min() == values.max()


def _constant_summary(summary: Any) -> bool:
    if isinstance(summary, CategoricalSummary):
        return len(summary.counts) <= 1
    if isinstance(summary, NumericSummary):
        return summary.count == 0 or summary.knots[0] == summary.knots[-1]
    return False


def _kind_word(kind: str) -> str:
    return {"numeric": "numbers", "boolean": "yes/no values", "datetime": "dates"}.get(kind, f"{kind} values")


# --------------------------------------------------------------------------- performance


def expected_confusion(proba: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Confidence-based performance estimation (CBPE, as NannyML does it): taking the model's
    probabilities as calibrated, a row predicted as class j is of class i with probability
    p_i, so the expected confusion matrix (true i x predicted j) adds each row's probability
    vector to column j. Sums over rows: partitions merge by adding."""
    k = proba.shape[1]
    matrix = np.zeros((k, k))
    for j in range(k):
        matrix[:, j] = proba[predicted == j].sum(axis=0)
    return matrix


def metrics_from_confusion(matrix: np.ndarray, binary: bool, positive: int = 1) -> dict[str, float]:
    """accuracy, precision, recall and f1 (binary: of the class at index `positive`; else their macro
    averages) of a confusion matrix of counts, possibly expected ones (true x predicted)."""
    total = matrix.sum()
    if total <= 0:
        return {}
    tp = np.diag(matrix)
    predicted, actual = matrix.sum(axis=0), matrix.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(actual > 0, tp / actual, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    out = {"accuracy": float(tp.sum() / total)}
    if binary and len(tp) == 2:
        out.update(precision=float(precision[positive]), recall=float(recall[positive]), f1=float(f1[positive]))
    else:
        out.update(precision_macro=float(precision.mean()), recall_macro=float(recall.mean()),
                   f1_macro=float(f1.mean()))
    return out


def performance_drop(current: dict[str, float], evaluated: dict[str, float] | None,
                     lower_is_better: frozenset[str]) -> dict[str, Any]:
    """Each metric on the current rows beside its value at evaluation time, and how much worse it is
    (positive: worse)."""
    rows = {}
    for name, value in current.items():
        before = (evaluated or {}).get(name)
        worse = None
        if before is not None and value is not None:
            worse = (value - before) if name in lower_is_better else (before - value)
        rows[name] = {"current": value, "evaluation": before, "drop": worse}
    return rows


# --------------------------------------------------------------------------- gates


def gate_results(gates: dict[str, str], measures: dict[str, Any]) -> list[dict[str, Any]]:
    """`monitor.gates` checked against the run's measures (metrics.json), in the form
    `evaluate.gates` takes; a measure the run could not compute fails its gate, saying why."""
    return [check_gate(name, condition, measures.get(name), f"`monitor.gates.{name}`",
                       unavailable=_unavailable(name)) for name, condition in gates.items()]


def _unavailable(name: str) -> str:
    if name.startswith("estimated_"):
        return "it is estimated from a classifier's probabilities, which this run did not have"
    if name.startswith("latency") or name in ("error_rate", "requests"):
        return "it comes from the prediction log (mlw monitor --log)"
    if name in ("weighted_drift_share",):
        return "the model has no feature importances"
    return "this run had no labelled rows (set monitor.labels, or include the target column)"
