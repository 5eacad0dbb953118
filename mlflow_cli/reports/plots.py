"""Evaluation plots (PNG); `html.py` writes the report that embeds them.

Plots are drawn on `matplotlib.figure.Figure` objects rendered by the Agg canvas, never
through pyplot: no global figure registry to leak, no GUI backend to pick, safe in a
server or a cron job.

matplotlib, numpy and scikit-learn are imported inside the functions that draw, so
importing this module costs nothing for commands that never plot.
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path
from typing import Any

from mlflow_cli.core.errors import did_you_mean

MAX_POINTS = 20_000          # scatter plots subsample above this many rows
SAMPLE_SEED = 0              # fixed, so the same data always gives the same picture
LABEL_WIDTH = 40             # class and feature names longer than this are truncated
DPI = 100
SIZE = (6.0, 4.5)            # inches; 600x450 px at DPI
MAX_LEGEND_CURVES = 10       # one-vs-rest curves beyond this are drawn but not labelled

_STYLE = {
    "text.parse_math": False,    # a name like "cost ($)" or "$a$" is text, not TeX
    "font.size": 9,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.labelsize": 10,
    "xtick.labelsize": 8.5,
    "ytick.labelsize": 8.5,
    "legend.fontsize": 8.5,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "savefig.facecolor": "white",
    "figure.facecolor": "white",
}
_BLUE, _ORANGE, _GREY = "#1f77b4", "#d62728", "#7f7f7f"


# --------------------------------------------------------------------------- plots


def make_plots(out_dir: Path, task: str, *, y_true=None, y_pred=None, proba=None, classes=None,
               importances: dict[str, float] | None = None, max_features: int = 20,
               ranking: dict[str, Any] | None = None, positive: Any = None) -> dict[str, str]:
    """Draw the evaluation plots for `task` into `out_dir`; return {plot name: file name}.

    Each plot is drawn from what is given, so a stage passes what it has: the confusion
    matrix needs y_true and y_pred; ROC, precision-recall and calibration curves need
    y_true and `proba` (an (n, n_classes) array whose columns follow `classes`, as
    `predict_proba` returns); regression plots need y_true and y_pred; cluster sizes
    need y_pred (the cluster labels); feature importance, for any task, needs
    `importances`; NDCG@k by user activity (recommendation) needs `ranking` ({"activity": training
    interactions per test user, "ndcg": {model name: per-user NDCG}, "k", "bins"}). `positive` is a
    binary problem's positive class (default classes[1]): its PR and calibration curves, its
    outlined cell in the confusion matrix. PNG bytes depend only on the inputs (fixed subsampling seed, no
    timestamps), so re-running on the same data gives byte-identical files.
    """
    if task not in TASKS:
        raise ValueError(f"The 'task' parameter of make_plots must be one of {', '.join(TASKS)}. "
                         f"Got {task!r} instead.{did_you_mean(task, TASKS)}")
    if not isinstance(max_features, int) or isinstance(max_features, bool) or max_features < 1:
        raise ValueError(f"The 'max_features' parameter of make_plots must be an int >= 1. "
                         f"Got {max_features!r} instead.")
    import numpy as np

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    y_true = None if y_true is None else np.asarray(y_true).ravel()
    y_pred = None if y_pred is None else np.asarray(y_pred).ravel()
    if y_true is not None and y_pred is not None and len(y_true) != len(y_pred):
        raise ValueError(f"y_true and y_pred must have the same length. "
                         f"Got {len(y_true)} and {len(y_pred)} instead.")

    written: dict[str, str] = {}

    def save(name: str, draw, *args) -> None:
        file_name = f"{name}.png"
        _render(out_dir / file_name, draw, *args)
        written[name] = file_name

    TASK_PLOTS[task](save, y_true, y_pred, proba, classes, positive)
    if ranking is not None and len(ranking["activity"]):
        save("ndcg_by_activity", _ndcg_by_activity, ranking)
    if importances and top_features(importances, max_features):
        save("feature_importance", _feature_importance, importances, max_features)
    return written


def short_label(value: Any, width: int = LABEL_WIDTH) -> str:
    """A class or feature name cut to `width` characters, so axes keep room for data."""
    text = str(value)
    return text if len(text) <= width else text[:width - 1].rstrip() + "…"


def _render(path: Path, draw, *args) -> None:
    """Draw one plot on a fresh Agg figure in the house style and save it as PNG.

    `draw(fig, *args)` fills the figure and may resize it. Constrained layout keeps
    long tick labels, legends and colour bars inside the canvas without changing the
    PNG's pixel size (which bbox_inches="tight" would)."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        try:
            draw(fig, *args)
            fig.savefig(path, dpi=DPI, format="png")
        finally:
            fig.clear()              # release the artists now, not at the next GC


def _regression_plots(save, y_true, y_pred, proba, classes, positive=None) -> None:
    if y_true is not None and y_pred is not None:
        save("residuals", _residuals, y_true, y_pred)
        save("predicted_vs_actual", _predicted_vs_actual, y_true, y_pred)


def _clustering_plots(save, y_true, y_pred, proba, classes, positive=None) -> None:
    if y_pred is not None:
        save("cluster_sizes", _cluster_sizes, y_pred)


def _no_plots(save, y_true, y_pred, proba, classes, positive=None) -> None:
    """Tasks whose plots are not drawn yet (recommendation): feature importance only."""


def _classification_plots(save, y_true, y_pred, proba, classes, positive=None) -> None:
    import numpy as np

    if proba is not None and classes is None:
        raise ValueError("classes must be given with proba: they name proba's columns "
                         "(pass the model's classes_).")
    if classes is not None:
        classes = list(np.asarray(classes).ravel())
    if proba is not None and y_true is not None:         # check before writing any file
        proba = np.asarray(proba, dtype=float)
        if proba.shape != (len(y_true), len(classes)):
            raise ValueError(f"proba must have shape (n_rows, n_classes) = ({len(y_true)}, {len(classes)}). "
                             f"Got {proba.shape} instead.")
    chosen = None
    if classes is not None and len(classes) == 2:
        from mlflow_cli.models.tasks.classification import positive_of

        chosen = classes.index(positive_of(classes, positive))
    if y_true is not None and y_pred is not None:
        save("confusion_matrix", _confusion_matrix, y_true, y_pred, classes, chosen)
    if y_true is None or proba is None:
        return
    curves = _curve_classes(y_true, classes, chosen)
    if not curves:
        return                       # no class with both positives and negatives in y_true
    save("roc_curve", _roc_curve, y_true, proba, classes, curves)
    save("pr_curve", _pr_curve, y_true, proba, classes, curves)
    if chosen is not None:
        save("calibration_curve", _calibration_curve, y_true, proba, classes, chosen)


def _curve_classes(y_true, classes: list, chosen: int | None = None) -> list[int]:
    """Column indexes of `proba` worth a curve: binary -> the positive class (`chosen`);
    multiclass -> every class present in y_true. A curve needs positives and negatives."""
    present = set(y_true.tolist())
    wanted = [chosen if chosen is not None else 1] if len(classes) == 2 else range(len(classes))
    return [i for i in wanted if classes[i] in present and len(present) > 1]


def _confusion_matrix(fig, y_true, y_pred, classes: list | None, chosen: int | None = None):
    import numpy as np
    from sklearn.metrics import confusion_matrix

    # Labels the model never saw (in y_true only) still get a row, after the known ones.
    known = list(classes) if classes is not None else []
    extra = set(y_true.tolist()) | set(y_pred.tolist())
    extra.difference_update(known)
    labels = known + sorted(extra, key=lambda v: (str(type(v)), v))
    counts = confusion_matrix(y_true, y_pred, labels=labels)
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros(counts.shape, dtype=float), where=totals > 0)

    k = len(labels)
    names = [short_label(label, 30) for label in labels]
    longest = max(map(len, names))
    # More classes or longer names need a bigger canvas for the cells to stay readable;
    # the 4:3 shape is kept so the report's grid stays even.
    scale = min(max(1.0, k / 10, 1 + (longest - 12) / 36), 2.5)
    fig.set_size_inches(SIZE[0] * scale, SIZE[1] * scale)
    ax = fig.subplots()
    ax.grid(False)
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02)
    bar.set_label("Share of true class")
    rotate = k > 3 or longest > 8
    ax.set_xticks(range(k), names, rotation=45 if rotate else 0, ha="right" if rotate else "center",
                  rotation_mode="anchor")
    ax.set_yticks(range(k), names)
    if k <= 30:
        size = 10 if k <= 5 else 8 if k <= 12 else 6
        for i in range(k):
            for j in range(k):
                text = f"{counts[i, j]:,}" + (f"\n{share[i, j]:.0%}" if k <= 8 else "")
                ax.text(j, i, text, ha="center", va="center", fontsize=size,
                        color="white" if share[i, j] > 0.55 else "black")
    ax.set_xlabel("Predicted class")
    ax.set_ylabel("True class")
    title = f"Confusion matrix ({len(y_true):,} rows)"
    if chosen is not None:  # the positive class's true positives: the cell precision and recall are about
        from matplotlib.patches import Rectangle

        ax.add_patch(Rectangle((chosen - 0.5, chosen - 0.5), 1, 1, fill=False, lw=2.5, color="#d62728"))
        title += f", positive class {short_label(labels[chosen], 20)} outlined"
    ax.set_title(title)


def _roc_curve(fig, y_true, proba, classes: list, curves: list[int]):
    from sklearn.metrics import auc, roc_curve

    ax = fig.subplots()
    aucs = []
    for i in curves:
        fpr, tpr, _ = roc_curve(y_true == classes[i], proba[:, i])
        aucs.append(auc(fpr, tpr))
        label = _curve_label(classes, i, curves, f"AUC = {aucs[-1]:.3f}")
        ax.plot(fpr, tpr, label=label, **_curve_style(curves))
    ax.plot([0, 1], [0, 1], ls="--", lw=1, color=_GREY, label="Chance")
    _many_curves_note(ax, curves)
    _unit_square(ax)
    ax.set_xlabel("False positive rate")
    ax.set_ylabel("True positive rate")
    ax.set_title(_curve_title("ROC curve", classes, curves, "AUC", aucs))
    ax.legend(loc="lower right")


def _curve_style(curves: list[int]) -> dict[str, Any]:
    """One curve: thick and blue; several: thinner, default colours, faded when too many for a legend."""
    one = len(curves) == 1
    return {"lw": 1.8 if one else 1.2, "color": _BLUE if one else None,
            "alpha": 1.0 if len(curves) <= MAX_LEGEND_CURVES else 0.5}


def _pr_curve(fig, y_true, proba, classes: list, curves: list[int]):
    from sklearn.metrics import average_precision_score, precision_recall_curve

    ax = fig.subplots()
    scores = []
    for i in curves:
        positive = y_true == classes[i]
        precision, recall, _ = precision_recall_curve(positive, proba[:, i])
        scores.append(average_precision_score(positive, proba[:, i]))
        label = _curve_label(classes, i, curves, f"AP = {scores[-1]:.3f}")
        ax.step(recall, precision, where="post", label=label, **_curve_style(curves))
        if len(curves) == 1:     # a random classifier's precision is the prevalence
            ax.axhline(positive.mean(), ls="--", lw=1, color=_GREY,
                       label=f"Chance (prevalence {positive.mean():.2f})")
    _many_curves_note(ax, curves)
    _unit_square(ax)
    ax.set_xlabel("Recall")
    ax.set_ylabel("Precision")
    ax.set_title(_curve_title("Precision-recall curve", classes, curves, "AP", scores))
    ax.legend(loc="lower left")


def _calibration_curve(fig, y_true, proba, classes: list, chosen: int = 1):
    from sklearn.calibration import calibration_curve

    positive = y_true == classes[chosen]
    observed, predicted = calibration_curve(positive, proba[:, chosen], n_bins=10, strategy="uniform")
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], ls="--", lw=1, color=_GREY, label="Perfectly calibrated")
    ax.plot(predicted, observed, marker="o", ms=4, lw=1.8, color=_BLUE, label="Model")
    _unit_square(ax)
    ax.set_xlabel(f"Mean predicted probability of {short_label(classes[chosen], 30)}")
    ax.set_ylabel("Observed fraction of positives")
    ax.set_title("Calibration curve (10 bins)")
    ax.legend(loc="upper left")


def _curve_label(classes: list, i: int, curves: list[int], score: str) -> str | None:
    if len(curves) > MAX_LEGEND_CURVES:
        return None                  # a 40-entry legend hides the plot; the title has the mean
    if len(classes) == 2:
        return f"{short_label(classes[i], 30)} ({score})"
    return f"{short_label(classes[i], 30)} vs rest ({score})"


def _curve_title(what: str, classes: list, curves: list[int], metric: str, scores: list[float]) -> str:
    if len(classes) == 2:
        return f"{what} (positive class: {short_label(classes[curves[0]], 20)})"
    return f"{what}, one-vs-rest (macro {metric} = {sum(scores) / len(scores):.3f})"


def _many_curves_note(ax, curves: list[int]) -> None:
    if len(curves) > MAX_LEGEND_CURVES:      # an empty handle: the legend just says why
        ax.plot([], [], " ", label=f"{len(curves)} classes, one curve each (unlabelled)")


def _unit_square(ax) -> None:
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.02)


def _regression_sample(y_true, y_pred):
    """Finite pairs, at most MAX_POINTS of them (seeded), and a note on what was kept."""
    import numpy as np

    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    keep = np.isfinite(y_true) & np.isfinite(y_pred)
    y_true, y_pred = y_true[keep], y_pred[keep]
    n = len(y_true)
    if n <= MAX_POINTS:
        return y_true, y_pred, f"{n:,} rows"
    rows = np.sort(np.random.default_rng(SAMPLE_SEED).choice(n, MAX_POINTS, replace=False))
    return y_true[rows], y_pred[rows], f"random {MAX_POINTS:,} of {n:,} rows"


def _scatter_style(n: int) -> dict[str, Any]:
    return {"s": 10 if n < 2_000 else 4, "alpha": 0.7 if n < 2_000 else 0.3, "linewidths": 0,
            "color": _BLUE, "rasterized": True}


def _residuals(fig, y_true, y_pred):
    actual, predicted, note = _regression_sample(y_true, y_pred)
    ax = fig.subplots()
    ax.scatter(predicted, actual - predicted, **_scatter_style(len(actual)))
    ax.axhline(0, color=_ORANGE, lw=1.2, ls="--")
    ax.set_xlabel("Predicted value")
    ax.set_ylabel("Residual (actual − predicted)")
    ax.set_title(f"Residuals vs predicted ({note})")


def _predicted_vs_actual(fig, y_true, y_pred):
    actual, predicted, note = _regression_sample(y_true, y_pred)
    ax = fig.subplots()
    ax.scatter(actual, predicted, **_scatter_style(len(actual)))
    if len(actual):
        low = float(min(actual.min(), predicted.min()))
        high = float(max(actual.max(), predicted.max()))
        pad = (high - low) * 0.03 or 1.0
        ax.plot([low - pad, high + pad], [low - pad, high + pad], color=_ORANGE, lw=1.2, ls="--",
                label="Perfect prediction (y = x)")
        ax.set_xlim(low - pad, high + pad)
        ax.set_ylim(low - pad, high + pad)
        ax.legend(loc="upper left")
    ax.set_xlabel("Actual value")
    ax.set_ylabel("Predicted value")
    ax.set_title(f"Predicted vs actual ({note})")


def _cluster_sizes(fig, labels):
    import numpy as np

    values, counts = np.unique(labels, return_counts=True)
    names = ["noise" if isinstance(v, numbers.Integral) and v == -1 else short_label(v, 20) for v in values.tolist()]
    k = len(values)
    ax = fig.subplots()
    ax.grid(axis="x", visible=False)
    bars = ax.bar(range(k), counts, color=[_GREY if n == "noise" else _BLUE for n in names])
    if k <= 25:
        ax.bar_label(bars, labels=[f"{c:,}" for c in counts], padding=2, fontsize=8 if k <= 12 else 6)
        ax.margins(y=0.1)
    step = max(1, -(-k // 30))   # at most ~30 tick labels, so they never overlap
    shown = names[::step]
    rotate = sum(len(name) + 2 for name in shown) > 70     # would the labels collide flat?
    ax.set_xticks(range(0, k, step), shown, rotation=45 if rotate else 0, ha="right" if rotate else "center",
                  rotation_mode="anchor")
    ax.set_xlabel("Cluster")
    ax.set_ylabel("Rows")
    ax.set_title(f"Cluster sizes ({k:,} clusters, {int(counts.sum()):,} rows)")


def feature_importance_size(n_features: int) -> tuple[float, float]:
    """Figure size for `n_features` bars: taller with more bars so names never collide."""
    return (7.0, max(SIZE[1], 0.28 * n_features + 1.2))


def top_features(importances: dict[str, float], max_features: int) -> list[tuple[str, float]]:
    """The `max_features` largest importances by absolute value, largest first (signed
    coefficients count by size: a strongly negative weight matters as much)."""
    finite = ((str(k), float(v)) for k, v in importances.items() if math.isfinite(float(v)))
    ranked = sorted(finite, key=lambda kv: -abs(kv[1]))
    return ranked[:max_features]


def _ndcg_by_activity(fig, ranking: dict[str, Any]):
    """Mean NDCG@k per group of users by training activity (quantile groups), one bar per model."""
    import numpy as np

    activity = np.asarray(ranking["activity"])
    edges = np.unique(np.quantile(activity, np.linspace(0, 1, ranking["bins"] + 1)))
    groups = np.clip(np.searchsorted(edges, activity, side="right") - 1, 0, max(len(edges) - 2, 0))
    labels = [f"{int(edges[g])}-{int(edges[g + 1])}" if len(edges) > 1 else f"{int(edges[0])}"
              for g in range(max(len(edges) - 1, 1))]
    ax = fig.subplots()
    names = list(ranking["ndcg"])
    width = 0.8 / len(names)
    for i, (name, values) in enumerate(ranking["ndcg"].items()):
        means = [float(np.mean(values[groups == g])) if np.any(groups == g) else 0.0 for g in range(len(labels))]
        ax.bar(np.arange(len(labels)) + (i - (len(names) - 1) / 2) * width, means, width,
               label=short_label(name), color=(_BLUE, _GREY, _ORANGE)[i % 3])
    counts = [int(np.sum(groups == g)) for g in range(len(labels))]
    ax.set_xticks(np.arange(len(labels)), [f"{lab}\n({n} users)" for lab, n in zip(labels, counts)])
    ax.set_xlabel("training interactions per user")
    ax.set_ylabel(f"mean NDCG@{ranking['k']}")
    ax.set_title(f"NDCG@{ranking['k']} by user activity")
    ax.legend()


def _feature_importance(fig, importances: dict[str, float], max_features: int):
    top = top_features(importances, max_features)[::-1]   # barh draws bottom-up: largest on top
    names = [short_label(name) for name, _ in top]
    values = [value for _, value in top]
    fig.set_size_inches(*feature_importance_size(len(top)))
    ax = fig.subplots()
    ax.grid(axis="y", visible=False)
    ax.barh(range(len(top)), values, color=[_BLUE if v >= 0 else _ORANGE for v in values])
    ax.set_yticks(range(len(top)), names)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("Importance" + (" (negative values in red)" if min(values) < 0 else ""))
    ax.set_ylabel("Feature")
    shown = f"top {len(top)} of {len(importances)}" if len(importances) > len(top) else f"{len(top)}"
    ax.set_title(f"Feature importance ({shown} features)")


# Each task's drawings (models/tasks/<task>.py: Task.plots names the files they write).
TASK_PLOTS = {"classification": _classification_plots, "regression": _regression_plots,
              "clustering": _clustering_plots, "recommendation": _no_plots}
TASKS = tuple(TASK_PLOTS)  # the tasks make_plots draws for
