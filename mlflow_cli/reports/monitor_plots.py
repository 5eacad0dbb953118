"""Monitoring plots (PNG), drawn like the evaluation plots (plots.py: Agg figures, house style):
each column's reference and current distributions side by side (one panel per column), and the service's traffic and
latency from the prediction log.

A distribution is a summary (data/summary.py) or the current values themselves; numbers are
drawn as the share of rows in each of up to 40 equal bins over the central 99 % of both sides,
categories as the share of each of the most common ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO

from mlflow_cli.reports.plots import _BLUE, _GREY, _ORANGE, _render, short_label

BINS = 40
TOP_CATEGORIES = 12


PANELS_PER_ROW = 3
PANEL_SIZE = (4.2, 3.3)  # inches
LEGEND_AT = "upper right"  # fixed: "best" tests every artist for the emptiest corner, a third of the drawing
# the legend's name of the reference: the training rows; the test split for the predictions
REFERENCE_LABEL = {None: "reference (training rows)", "prediction": "reference (test split)"}


def distribution_plots(path: Path | BinaryIO, panels: list[tuple[str, str, Any, Any, str]]) -> None:
    """Reference vs current for each (name, kind, reference, current, verdict): one panel per column,
    titled with its verdict, PANELS_PER_ROW to a row, in one PNG (one render instead of one per
    column: drawing is most of a plot's cost), written to a file or into a binary stream."""
    _render(path, _grid, panels)


def _grid(fig, panels: list[tuple[str, str, Any, Any, str]]) -> None:
    from mlflow_cli.data.summary import CategoricalSummary
    from mlflow_cli.reports.plots import DPI

    columns = min(PANELS_PER_ROW, len(panels))
    rows = -(-len(panels) // columns)
    width, height = PANEL_SIZE[0] * columns, PANEL_SIZE[1] * rows
    fig.set_size_inches(width, height)
    fig.set_dpi(DPI)
    # Panels of one shape need no layout engine: fixed margins (in inches) draw in half the time.
    fig.set_layout_engine(None)
    fig.subplots_adjust(left=0.7 / width, right=1 - 0.15 / width, bottom=0.5 / height, top=1 - 0.35 / height,
                        wspace=0.72 / (PANEL_SIZE[0] - 0.77), hspace=0.95 / (PANEL_SIZE[1] - 0.85))
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax, (name, kind, reference, current, verdict) in zip(axes, panels):
        if isinstance(reference, CategoricalSummary):
            _categories(ax, name, kind, reference, current, verdict)
        else:
            _numbers(ax, name, kind, reference, current, verdict)
            _units(ax, kind)
    for ax in axes[len(panels):]:
        ax.set_visible(False)


def _cdf(side: Any, x: Any) -> Any:
    import numpy as np

    from mlflow_cli.data.summary import NumericSummary

    if isinstance(side, NumericSummary):
        return side.cdf(x)
    values = np.sort(np.asarray(side, dtype=float))
    return np.searchsorted(values, x, side="right") / max(len(values), 1)


def _quantiles(side: Any, levels: Any) -> Any:
    import numpy as np

    from mlflow_cli.data.summary import NumericSummary

    if isinstance(side, NumericSummary):
        return side.quantile(levels)
    return np.quantile(np.asarray(side, dtype=float), levels)


def _numbers(ax, name: str, kind: str, reference: Any, current: Any, verdict: str) -> None:
    import numpy as np

    ends = np.concatenate([_quantiles(reference, [0.005, 0.995]), _quantiles(current, [0.005, 0.995])])
    low, high = float(np.min(ends)), float(np.max(ends))
    if high <= low:
        high = low + 1.0
    edges = np.linspace(low, high, BINS + 1)
    ref_shares, now_shares = np.diff(_cdf(reference, edges)), np.diff(_cdf(current, edges))
    ax.stairs(ref_shares, edges, fill=True, color=_GREY, alpha=0.5, label=REFERENCE_LABEL.get(kind, REFERENCE_LABEL[None]))
    ax.stairs(now_shares, edges, color=_ORANGE, linewidth=1.8, label="current")
    _headroom(ax, max(ref_shares.max(), now_shares.max()))
    ax.set_ylabel("Share of rows")
    ax.set_title(f"{short_label(name, 30)}: {verdict}")
    ax.legend(fontsize=7, loc=LEGEND_AT)


def _headroom(ax, top: float) -> None:
    """Room above the tallest bar for the legend (LEGEND_AT)."""
    ax.set_ylim(0, max(top, 1e-9) * 1.3)


def _units(ax, kind: str) -> None:
    """Dates are compared as days since 1970 and texts by their length: say so on the axis."""
    if kind == "datetime":
        from datetime import date, timedelta

        epoch = date(1970, 1, 1)
        low, high = ax.get_xlim()
        first, last = (epoch + timedelta(days=low)).year + 1, (epoch + timedelta(days=high)).year
        years = list(range(first, last + 1))
        step = max(1, -(-len(years) // 6))
        years = years[::step]
        ax.set_xticks([(date(y, 1, 1) - epoch).days for y in years], [str(y) for y in years])
        ax.set_xlim(low, high)
    elif kind == "text":
        ax.set_xlabel("length (characters)")


def _categories(ax, name: str, kind: str, reference: Any, current: Any, verdict: str) -> None:
    import numpy as np

    from mlflow_cli.data.summary import CategoricalSummary

    now = current if isinstance(current, CategoricalSummary) else CategoricalSummary.of(current)
    names = list(dict.fromkeys(list(reference.counts)[:TOP_CATEGORIES] + list(now.counts)[:TOP_CATEGORIES]))
    names = names[:TOP_CATEGORIES * 2]
    ref_total, now_total = max(reference.count, 1), max(now.count, 1)
    ref_shares = np.array([reference.counts.get(c, 0) / ref_total for c in names])
    now_shares = np.array([now.counts.get(c, 0) / now_total for c in names])
    ax.grid(axis="x", visible=False)
    at = np.arange(len(names))
    ax.bar(at - 0.2, ref_shares, width=0.4, color=_GREY, label=REFERENCE_LABEL.get(kind, REFERENCE_LABEL[None]))
    ax.bar(at + 0.2, now_shares, width=0.4, color=_ORANGE, label="current")
    _headroom(ax, max(ref_shares.max(initial=0), now_shares.max(initial=0)))
    labels = [short_label(c, 18) for c in names]
    rotate = sum(len(label) + 2 for label in labels) > 60
    ax.set_xticks(at, labels, rotation=45 if rotate else 0, ha="right" if rotate else "center",
                  rotation_mode="anchor")
    ax.set_ylabel("Share of rows")
    ax.set_title(f"{short_label(name, 30)}: {verdict}")
    ax.legend(fontsize=7, loc=LEGEND_AT)


def traffic_plot(path: Path, traffic: list[dict[str, Any]]) -> None:
    _render(path, _traffic, traffic)


def _traffic(fig, traffic: list[dict[str, Any]]) -> None:
    import numpy as np

    hours = [row["hour"] for row in traffic]
    answered = np.array([row["requests"] - row["refused"] for row in traffic])
    refused = np.array([row["refused"] for row in traffic])
    ax = fig.subplots()
    ax.grid(axis="x", visible=False)
    at = np.arange(len(hours))
    ax.bar(at, answered, color=_BLUE, label="answered")
    ax.bar(at, refused, bottom=answered, color=_ORANGE, label="refused (4xx)")
    step = max(1, -(-len(hours) // 12))
    ax.set_xticks(at[::step], [h[5:16].replace("T", " ") for h in hours[::step]], rotation=45, ha="right",
                  rotation_mode="anchor")
    ax.set_ylabel("Requests per hour")
    ax.set_title(f"Traffic ({int(answered.sum() + refused.sum()):,} requests)")
    ax.legend()


def latency_plot(path: Path, latency: Any, percentiles: dict[str, float | None]) -> None:
    _render(path, _latency, latency, percentiles)


def _latency(fig, latency: Any, percentiles: dict[str, float | None]) -> None:
    import numpy as np

    high = float(_quantiles(latency, [0.995])[0])
    low = float(_quantiles(latency, [0.0])[0])
    edges = np.linspace(low, max(high, low + 1e-3), BINS + 1)
    ax = fig.subplots()
    ax.bar(edges[:-1], np.diff(_cdf(latency, edges)), width=edges[1] - edges[0], align="edge", color=_BLUE,
           edgecolor="none")
    for (label, value), style in zip(percentiles.items(), ("-", "--", ":")):
        if value is not None:
            ax.axvline(value, color=_ORANGE, linestyle=style, label=f"{label.split('_')[1]} {value:.3g} ms")
    ax.set_xlabel("Latency per request (ms)")
    ax.set_ylabel("Share of requests")
    ax.set_title("Latency")
    ax.legend()


def windows_plot(path: Path, windows: list[dict[str, Any]]) -> None:
    """Drift share (and its importance-weighted share) and data quality per window, by window end."""
    _render(path, _windows, windows)


def _windows(fig, windows: list[dict[str, Any]]) -> None:
    from datetime import datetime

    fig.set_size_inches(8.0, 5.2)
    top, bottom = fig.subplots(2, 1, sharex=True)
    ends = [datetime.fromisoformat(w["end"]) for w in windows]
    def series(name: str) -> list[float]:
        return [float("nan") if w.get(name) is None else float(w[name]) for w in windows]
    top.plot(ends, series("drift_share"), marker="o", color=_ORANGE, label="drift share")
    if any(w.get("weighted_drift_share") is not None for w in windows):
        top.plot(ends, series("weighted_drift_share"), marker="s", color=_BLUE, label="weighted by importance")
    top.set_ylim(0, 1.05)
    top.set_ylabel("Share of columns")
    top.set_title("Drift per window")
    top.legend(fontsize=7, loc="upper left")
    rows = [max(w["rows"], 1) for w in windows]
    bottom.plot(ends, [n / r for n, r in zip(series("new_category_rows"), rows)], marker="o", color=_ORANGE,
                label="rows with a new category")
    bottom.plot(ends, series("out_of_range_share"), marker="s", color=_GREY, label="values out of training range")
    if any(w.get("error_rate") is not None for w in windows):
        bottom.plot(ends, series("error_rate"), marker="^", color=_BLUE, label="refused requests")
    bottom.set_ylabel("Share")
    bottom.set_title("Data quality per window")
    bottom.legend(fontsize=7, loc="upper left")
    for label in bottom.get_xticklabels():
        label.set_rotation(30)
        label.set_ha("right")
