"""The sections of monitor's report.html (reports/html.py writes it): the verdict, the drift table,
a plot of each drifted column, target and prediction drift, data quality, performance, service
health and the gates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

MAX_PLOTS = 12
ORDER = {"drift": 0, "minor": 1, "none": 2}


def drift_rows(columns: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Columns by verdict (drift first), then by effect size, largest first."""
    return sorted(columns.items(), key=lambda kv: (ORDER[kv[1]["verdict"]], -kv[1]["effect"]))


def drift_figure(drift: dict[str, Any], reference: Any, current: dict[str, Any]) -> bytes | None:
    """The PNG of the changed columns' distributions, reference against current (up to MAX_PLOTS,
    drift first), or None when no column changed. Drawn apart from the report (into memory) so
    that the monitor can draw it while the model scores."""
    import io

    from mlflow_cli.reports.monitor_plots import distribution_plots

    panels = [(name, entry["kind"], reference.columns[name][1], current[name], entry["verdict"])
              for name, entry in drift_rows(drift["columns"])[:MAX_PLOTS]
              if entry["verdict"] != "none" and name in current and name in reference.columns]
    if not panels:
        return None
    png = io.BytesIO()
    distribution_plots(png, panels)
    return png.getvalue()


def report_sections(result: dict[str, Any], reference: Any, drift_png: bytes | None, predictions: Any,
                    latency: Any, out_dir: Path) -> list[dict[str, Any]]:
    """`drift_png`: drift_figure's; `predictions`: the current predictions (a summary) or None."""
    from mlflow_cli.reports.monitor_plots import distribution_plots, latency_plot, traffic_plot

    drift, quality = result["drift"], result["quality"]
    failed = [g for g in result["gates"] if not g["passed"]]
    status = "fail" if failed or drift["dataset_drift"] else ("warn" if drift["minor"] or drift["drifted"] else "pass")
    weighted = drift["weighted_drift_share"]
    summary = (f"{result['current']} ({result['rows']:,} rows) against the training rows of {result['model']} "
               f"({result['reference_rows']:,} rows). {len(drift['drifted'])} of {drift['compared']} columns drift "
               f"({drift['drift_share']:.0%}" + (f"; {weighted:.0%} of the model's importance" if weighted is not None
                                                 else "") +
               f"), {len(drift['minor'])} show a minor change. Verdict: {result['verdict']}.")
    sections: list[dict[str, Any]] = [{"heading": "Verdict", "status": status,
                                       "text": "\n\n".join([summary] + result["warnings"] + result["notes"])}]
    if result.get("windows"):
        sections.append(_windows_section(result["windows"], out_dir))
    rows = [[name, entry["kind"], entry["test"], entry["statistic"], entry["p_value"], entry["effect_name"],
             entry["effect"], entry["threshold"], entry["psi"], entry.get("importance"), entry["verdict"]]
            for name, entry in drift_rows(drift["columns"])]
    sections.append({"heading": "Data drift",
                     "text": f"Significance {drift['alpha']:.2g} per column (monitor.drift.p_value "
                             f"{drift['alpha'] * max(drift['compared'], 1):g} over {drift['compared']} columns); a "
                             f"column drifts when its effect also reaches the threshold.",
                     "table": {"columns": ["column", "kind", "test", "statistic", "p-value", "effect", "size",
                                           "threshold", "PSI", "importance", "verdict"], "rows": rows}})
    if drift_png is not None:
        (out_dir / "drift.png").write_bytes(drift_png)
        sections.append({"heading": "Changed columns", "text": "Reference (the training rows) against the current "
                                                               "rows, for every column that drifts or changes a "
                                                               "little.",
                         "images": [out_dir / "drift.png"]})
    outputs = []
    for what, entry in (("target", result["target_drift"]), ("prediction", result["prediction_drift"])):
        if entry is not None:
            outputs.append([what, entry["test"], entry["statistic"], entry["p_value"], entry["effect_name"],
                            entry["effect"], entry["verdict"]])
    if outputs:
        section = {"heading": "Target and predictions",
                   "table": {"columns": ["", "test", "statistic", "p-value", "effect", "size", "verdict"],
                             "rows": outputs}}
        if predictions is not None and reference.prediction is not None and result["prediction_drift"] is not None:
            distribution_plots(out_dir / "predictions.png", [("prediction", "prediction", reference.prediction,
                                                              predictions, result["prediction_drift"]["verdict"])])
            section.update(text="The model's predictions: on its test split (the reference) and on the current rows.",
                           images=[out_dir / "predictions.png"])
        sections.append(section)
    sections.append(_quality_section(quality))
    performance = result["performance"]
    if performance is not None:
        sections.append(_performance_section(performance))
    health = result["health"]
    if health is not None:
        section = {"heading": "Service health", "status": "warn" if health["refused"] else "pass",
                   "table": {"columns": ["measure", "value"], "rows": [
                       [k, health[k]] for k in ("requests", "answered", "refused", "error_rate", "latency_p50_ms",
                                                "latency_p95_ms", "latency_p99_ms", "rows", "rows_per_request",
                                                "max_rows_per_request", "first", "last")] +
                       [[f"refused: {reason}", n] for reason, n in health["errors"].items()] +
                       [[f"model {version}", f"{n:,} rows"] for version, n in health["model_versions"].items()]}}
        plots = []
        if health["traffic"]:
            traffic_plot(out_dir / "traffic.png", health["traffic"])
            plots.append(out_dir / "traffic.png")
        if latency is not None and health["answered"]:
            latency_plot(out_dir / "latency.png", latency,
                         {k: health[k] for k in ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms")})
            plots.append(out_dir / "latency.png")
        section["images"] = plots
        sections.append(section)
    if result["gates"]:
        sections.append({"heading": "Gates", "status": "fail" if failed else "pass",
                         "table": {"columns": ["gate", "condition", "value", "result"],
                                   "rows": [[g["gate"], g["condition"], g["value"], "pass" if g["passed"] else "FAIL"]
                                            for g in result["gates"]]}})
    return sections


def quality_rows(quality: dict[str, Any]) -> list[list[Any]]:
    rows = [[name, "; ".join(entry["problems"])] for name, entry in quality["columns"].items() if entry["problems"]]
    rows += [[name, "missing from the current data"] for name in quality["missing"]]
    rows += [[name, "not a column the model knows (ignored)"] for name in quality["extra"]]
    if quality["duplicate_ids"]:
        rows.append(["(ids)", f"{quality['duplicate_ids']:,} rows repeat an earlier row's id"])
    return rows


def _quality_section(quality: dict[str, Any]) -> dict[str, Any]:
    rows = quality_rows(quality)
    return {"heading": "Data quality", "status": "warn" if rows else "pass",
            "text": "Against the schema prepare recorded with the model's training data." if rows else
                    "No problems against the schema prepare recorded.",
            **({"table": {"columns": ["column", "problem"], "rows": rows}} if rows else {})}


def _performance_section(performance: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for name, row in (performance.get("metrics") or {}).items():
        rows.append([name, row["current"], row["evaluation"], row["drop"], "labels"])
    for name, row in (performance.get("estimated") or {}).items():
        rows.append([name, row["current"], row["evaluation"], row["drop"], "estimate (CBPE)"])
    join = performance.get("join")
    text = f"{performance['labelled_rows']:,} labelled rows."
    if join:
        text += f" monitor.labels: {join['joined']:,} of {join['label_rows']:,} label rows joined on " \
                f"{', '.join(join['keys'])}."
    if performance.get("estimated"):
        text += (" Estimates take the model's probabilities as calibrated (confidence-based performance "
                 "estimation): they say what the model expects of itself, not what the labels will say.")
    return {"heading": "Performance", "text": text,
            **({"table": {"columns": ["metric", "current", "at evaluation", "drop", "from"], "rows": rows}}
               if rows else {})}


def _windows_section(windows: list[dict[str, Any]], out_dir: Path) -> dict[str, Any]:
    from mlflow_cli.reports.monitor_plots import windows_plot

    windows_plot(out_dir / "windows.png", windows)
    return {"heading": "Over time", "text": "One verdict per window; the sections below are the newest window's.",
            "images": [out_dir / "windows.png"],
            "table": {"columns": ["from", "to", "rows", "drift share", "weighted", "drifted", "new-category rows",
                                  "out of range", "error rate", "verdict"],
                      "rows": [[w["start"][:16], w["end"][:16], w["rows"], w.get("drift_share"),
                                w.get("weighted_drift_share"), ", ".join(w.get("drifted") or []),
                                w.get("new_category_rows"), w.get("out_of_range_share"), w.get("error_rate"),
                                w["verdict"]] for w in windows]}}
