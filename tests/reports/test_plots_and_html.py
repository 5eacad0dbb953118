"""Evaluation plots and the self-contained HTML report: which files each task writes,
that they are real PNGs of the intended size, and that the report embeds, escapes and
never points outside itself."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlflow_cli.reports import html as report_html
from mlflow_cli.reports import plots as report
from mlflow_cli.reports.html import PNG_SIGNATURE, write_report
from mlflow_cli.reports.plots import (
    DPI, MAX_POINTS, SIZE, feature_importance_size, make_plots, short_label, top_features,
)

REPO = Path(__file__).resolve().parents[2]
EVIL = '<script>alert("x")</script>'
STANDARD_PX = (round(SIZE[1] * DPI), round(SIZE[0] * DPI))      # (height, width) = (450, 600)


# --------------------------------------------------------------------------- helpers


def pixels(path: Path) -> tuple[int, int]:
    """(height, width) of a PNG as matplotlib reads it back."""
    from matplotlib.image import imread

    return imread(path).shape[:2]


def assert_png(path: Path, size: tuple[int, int] | None = STANDARD_PX, ratio: float | None = None) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE, f"{path.name} is not a PNG"
    height, width = pixels(path)
    if size is not None:
        assert (height, width) == size, path.name
    if ratio is not None:
        assert width / height == pytest.approx(ratio, rel=0.01), path.name


def binary_data(n: int = 300, seed: int = 0, classes=("no", "yes")):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p1 = np.clip(0.35 * y + 0.65 * rng.random(n), 0, 1)
    names = np.asarray(classes)
    return names[y], names[(p1 > 0.5).astype(int)], np.column_stack([1 - p1, p1]), list(classes)


def multiclass_data(n: int = 300, k: int = 4, seed: int = 0, absent: int | None = None):
    rng = np.random.default_rng(seed)
    classes = [f"class_{i}" for i in range(k)]
    y = rng.integers(0, k, n)
    if absent is not None:
        y[y == absent] = (absent + 1) % k
    proba = rng.dirichlet(np.ones(k), n)
    proba[np.arange(n), y] += 0.5
    proba /= proba.sum(axis=1, keepdims=True)
    names = np.asarray(classes)
    return names[y], names[proba.argmax(axis=1)], proba, classes


def files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


# --------------------------------------------------------------------------- classification plots


def test_make_plots_binary_writes_four_pngs(tmp_path: Path):
    y_true, y_pred, proba, classes = binary_data()
    written = make_plots(tmp_path, "classification", y_true=y_true, y_pred=y_pred, proba=proba, classes=classes)
    expected = {"confusion_matrix", "roc_curve", "pr_curve", "calibration_curve"}
    assert set(written) == expected
    assert files(tmp_path) == {f"{name}.png" for name in expected}
    assert all(written[name] == f"{name}.png" for name in expected)
    for name in ("roc_curve", "pr_curve", "calibration_curve"):
        assert_png(tmp_path / written[name])
    assert_png(tmp_path / "confusion_matrix.png", size=None, ratio=SIZE[0] / SIZE[1])


def test_make_plots_multiclass_has_no_calibration_curve(tmp_path: Path):
    y_true, y_pred, proba, classes = multiclass_data()
    written = make_plots(tmp_path, "classification", y_true=y_true, y_pred=y_pred, proba=proba, classes=classes)
    assert set(written) == {"confusion_matrix", "roc_curve", "pr_curve"}
    assert files(tmp_path) == {"confusion_matrix.png", "roc_curve.png", "pr_curve.png"}
    assert_png(tmp_path / "roc_curve.png")
    assert_png(tmp_path / "pr_curve.png")


def test_make_plots_without_proba_writes_only_confusion_matrix(tmp_path: Path):
    y_true, y_pred, _, classes = binary_data()
    assert make_plots(tmp_path, "classification", y_true=y_true, y_pred=y_pred, classes=classes) == {
        "confusion_matrix": "confusion_matrix.png"}
    assert files(tmp_path) == {"confusion_matrix.png"}


def test_make_plots_without_classes_infers_them_for_confusion_matrix(tmp_path: Path):
    y_true, y_pred, _, _ = multiclass_data()
    assert set(make_plots(tmp_path, "classification", y_true=y_true, y_pred=y_pred)) == {"confusion_matrix"}


def test_make_plots_multiclass_skips_curves_for_absent_classes(tmp_path: Path):
    y_true, y_pred, proba, classes = multiclass_data(k=4, absent=2)
    assert "class_2" not in set(y_true)
    written = make_plots(tmp_path, "classification", y_true=y_true, y_pred=y_pred, proba=proba, classes=classes)
    assert set(written) == {"confusion_matrix", "roc_curve", "pr_curve"}


def test_make_plots_binary_without_positives_skips_curves(tmp_path: Path):
    """ROC, PR and calibration are undefined when y_true holds one class only."""
    y_true, y_pred, proba, classes = binary_data()
    y_true = np.full(len(y_true), "no")
    written = make_plots(tmp_path, "classification", y_true=y_true, y_pred=y_pred, proba=proba, classes=classes)
    assert set(written) == {"confusion_matrix"}


def test_make_plots_many_long_classes_grow_confusion_matrix_and_keep_legend_small(tmp_path: Path):
    y_true, y_pred, proba, _ = multiclass_data(n=600, k=15)
    classes = [f"{EVIL} a very long class name number {i}" for i in range(15)]
    mapping = dict(zip([f"class_{i}" for i in range(15)], classes))
    y_true = np.array([mapping[v] for v in y_true])
    y_pred = np.array([mapping[v] for v in y_pred])
    written = make_plots(tmp_path, "classification", y_true=y_true, y_pred=y_pred, proba=proba, classes=classes)
    assert set(written) == {"confusion_matrix", "roc_curve", "pr_curve"}
    height, width = pixels(tmp_path / "confusion_matrix.png")
    assert width > STANDARD_PX[1] and width / height == pytest.approx(SIZE[0] / SIZE[1], rel=0.01)
    assert_png(tmp_path / "roc_curve.png")


def test_make_plots_labels_unknown_to_the_model_still_get_a_row(tmp_path: Path):
    y_true, y_pred, proba, classes = binary_data()
    y_true = y_true.astype(object)
    y_true[:5] = "maybe"                              # a label the model never saw
    written = make_plots(tmp_path, "classification", y_true=y_true, y_pred=y_pred, proba=proba, classes=classes)
    assert set(written) == {"confusion_matrix", "roc_curve", "pr_curve", "calibration_curve"}


def test_make_plots_draws_dollar_signs_and_backslashes_literally(tmp_path: Path):
    """matplotlib would read "$...$" as TeX and fail on "\\frac{"; names are plain text."""
    y_true, y_pred, proba, _ = binary_data()
    classes = ["cost $5", r"$\frac{ $"]
    y_true = np.where(y_true == "yes", classes[1], classes[0])
    y_pred = np.where(y_pred == "yes", classes[1], classes[0])
    written = make_plots(tmp_path, "classification", y_true=y_true, y_pred=y_pred, proba=proba, classes=classes,
                         importances={r"$\alpha$ ($)": 1.0, "$_$^": -0.5})
    assert len(written) == 5


# --------------------------------------------------------------------------- other tasks


def test_make_plots_regression_subsamples_100k_points(tmp_path: Path):
    rng = np.random.default_rng(0)
    y_true = rng.normal(size=100_000)
    y_pred = y_true + rng.normal(scale=0.3, size=y_true.size)
    written = make_plots(tmp_path, "regression", y_true=y_true, y_pred=y_pred)
    assert written == {"residuals": "residuals.png", "predicted_vs_actual": "predicted_vs_actual.png"}
    assert files(tmp_path) == {"residuals.png", "predicted_vs_actual.png"}
    for name in written.values():
        assert_png(tmp_path / name)

    actual, predicted, note = report._regression_sample(y_true, y_pred)
    assert len(actual) == len(predicted) == MAX_POINTS
    assert note == "random 20,000 of 100,000 rows"
    again, _, _ = report._regression_sample(y_true, y_pred)
    np.testing.assert_array_equal(actual, again)      # seeded: the same rows every time
    assert set(actual) <= set(y_true)


def test_regression_sample_keeps_small_data_and_drops_non_finite():
    actual, predicted, note = report._regression_sample([1.0, np.nan, 3.0, 4.0], [1.0, 2.0, np.inf, 4.5])
    assert actual.tolist() == [1.0, 4.0] and predicted.tolist() == [1.0, 4.5]
    assert note == "2 rows"


def test_make_plots_is_byte_for_byte_reproducible(tmp_path: Path):
    rng = np.random.default_rng(3)
    y = rng.normal(size=30_000)
    make_plots(tmp_path / "a", "regression", y_true=y, y_pred=y * 0.9)
    make_plots(tmp_path / "b", "regression", y_true=y, y_pred=y * 0.9)
    for name in ("residuals.png", "predicted_vs_actual.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_make_plots_clustering_counts_rows_per_label(tmp_path: Path):
    labels = np.random.default_rng(0).integers(-1, 6, 500)    # -1 is DBSCAN's noise
    assert make_plots(tmp_path, "clustering", y_pred=labels) == {"cluster_sizes": "cluster_sizes.png"}
    assert files(tmp_path) == {"cluster_sizes.png"}
    assert_png(tmp_path / "cluster_sizes.png")


@pytest.mark.parametrize("task", ["classification", "regression", "clustering", "recommendation"])
def test_make_plots_feature_importance_for_any_task(tmp_path: Path, task: str):
    importances = {f"feature_{i}": float(i) for i in range(30)}
    written = make_plots(tmp_path, task, importances=importances, max_features=12)
    assert written == {"feature_importance": "feature_importance.png"}
    width, height = feature_importance_size(12)
    assert_png(tmp_path / "feature_importance.png", size=(round(height * DPI), round(width * DPI)))


def test_make_plots_feature_importance_with_few_features_has_minimum_height(tmp_path: Path):
    make_plots(tmp_path, "regression", importances={"a": 0.5, "b": -0.25})
    assert feature_importance_size(2)[1] == SIZE[1]
    assert_png(tmp_path / "feature_importance.png", size=(round(SIZE[1] * DPI), round(7.0 * DPI)))


def test_top_features_ranks_by_absolute_value_and_drops_non_finite():
    importances = {"small": 0.1, "negative": -0.9, "big": 0.5, "nan": float("nan"), "tiny": 0.01}
    assert top_features(importances, 3) == [("negative", -0.9), ("big", 0.5), ("small", 0.1)]
    assert top_features({"nan": float("nan")}, 5) == []


def test_make_plots_skips_importance_when_all_values_are_missing(tmp_path: Path):
    assert make_plots(tmp_path, "regression", importances={"a": float("nan")}) == {}
    assert make_plots(tmp_path, "regression", importances={}) == {}


def test_make_plots_writes_nothing_without_data(tmp_path: Path):
    for task in ("classification", "regression", "clustering", "recommendation"):
        assert make_plots(tmp_path / task, task) == {}


@pytest.mark.parametrize(("name", "width", "expected"), [
    ("short", 40, "short"),
    ("x" * 40, 40, "x" * 40),
    ("x" * 41, 40, "x" * 39 + "…"),
    ("a long feature name " * 5, 40, "a long feature name a long feature name…"),
    (12345, 3, "12…"),
])
def test_short_label_truncates_with_ellipsis(name, width, expected):
    assert short_label(name, width) == expected
    assert len(short_label(name, width)) <= width


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"task": "clasification"},
     "The 'task' parameter of make_plots must be one of classification, regression, clustering, "
     "recommendation. Got 'clasification' instead. Did you mean 'classification'?"),
    ({"task": "regression", "max_features": 0},
     "The 'max_features' parameter of make_plots must be an int >= 1. Got 0 instead."),
    ({"task": "regression", "y_true": [1, 2, 3], "y_pred": [1, 2]},
     "y_true and y_pred must have the same length. Got 3 and 2 instead."),
    ({"task": "classification", "y_true": [0, 1], "y_pred": [0, 1], "proba": [[0.5, 0.5], [0.2, 0.8]]},
     "classes must be given with proba: they name proba's columns (pass the model's classes_)."),
    ({"task": "classification", "y_true": [0, 1], "y_pred": [0, 1], "proba": [0.5, 0.8], "classes": [0, 1]},
     "proba must have shape (n_rows, n_classes) = (2, 2). Got (2,) instead."),
    ({"task": "classification", "y_true": [0, 1], "y_pred": [0, 1], "proba": [[0.1, 0.5, 0.4]] * 2,
      "classes": [0, 1]},
     "proba must have shape (n_rows, n_classes) = (2, 2). Got (2, 3) instead."),
])
def test_make_plots_rejects_bad_input(tmp_path: Path, kwargs: dict, message: str):
    task = kwargs.pop("task")
    with pytest.raises(ValueError) as info:
        make_plots(tmp_path / "plots", task, **kwargs)
    assert str(info.value) == message
    assert not (tmp_path / "plots").exists() or files(tmp_path / "plots") == set()   # nothing half-drawn


# --------------------------------------------------------------------------- HTML report


@pytest.fixture
def plots(tmp_path: Path) -> list[Path]:
    y_true, y_pred, proba, classes = binary_data(classes=("stay", EVIL))
    written = make_plots(tmp_path / "plots", "classification", y_true=y_true, y_pred=y_pred, proba=proba,
                         classes=classes, importances={EVIL: 0.7, "tenure": 0.3})
    return [tmp_path / "plots" / name for name in written.values()]


def test_write_report_embeds_every_image_and_links_nothing(tmp_path: Path, plots: list[Path]):
    out = tmp_path / "report.html"
    write_report(out, title="Evaluation", sections=[
        {"heading": "Plots", "images": plots[:3]},
        {"heading": "More plots", "images": [str(p) for p in plots[3:]]},
    ])
    page = out.read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == len(plots) == 5
    for forbidden in ("http://", "https://", 'src="/', "<link", "<script", "@import", "url("):
        assert forbidden not in page
    for plot in plots:
        assert f'alt="{plot.stem}"' in page
    assert "max-width: 100%" in page
    assert re.search(r"Generated by mlw \S+ at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", page)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")


def test_write_report_escapes_user_strings(tmp_path: Path):
    out = tmp_path / "report.html"
    write_report(out, title=f"Report {EVIL}", sections=[
        {"heading": f"Class {EVIL}", "text": f"The class {EVIL} & friends",
         "table": {"columns": ["class", EVIL], "rows": [[EVIL, 'a "quoted" <b>value</b>']]}},
    ])
    page = out.read_text(encoding="utf-8")
    assert "<script" not in page and "<b>value" not in page
    escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"
    assert page.count(escaped) == 6      # <title>, <h1>, heading, text, column, cell
    assert "&amp; friends" in page
    assert "a &quot;quoted&quot; &lt;b&gt;value&lt;/b&gt;" in page


def test_write_report_renders_table_values(tmp_path: Path):
    out = tmp_path / "report.html"
    write_report(out, title="Metrics", sections=[{"heading": "Scores", "table": {
        "columns": ["metric", "value", "rows", "passed", "note"],
        "rows": [["f1", 0.812345678, 1200, True, None],
                 ["rmse", np.float32(1234.5678), np.int64(7), False, "ok"],
                 ["tiny", 1.23456e-7, 0, True, ""]],
    }}])
    page = out.read_text(encoding="utf-8")
    assert "<th>metric</th><th>value</th><th>rows</th><th>passed</th><th>note</th>" in page
    assert ('<tr><td>f1</td><td class="num">0.8123</td><td class="num">1200</td>'
            "<td>True</td><td></td></tr>") in page
    assert '<td class="num">1235</td><td class="num">7</td><td>False</td><td>ok</td>' in page
    assert '<td class="num">1.235e-07</td>' in page


@pytest.mark.parametrize("status", ["pass", "fail", "warn"])
def test_write_report_renders_status_badge(tmp_path: Path, status: str):
    out = tmp_path / "report.html"
    write_report(out, title="Gates", sections=[{"heading": "Quality gates", "status": status}])
    page = out.read_text(encoding="utf-8")
    assert f'<h2>Quality gates <span class="badge {status}">{status.upper()}</span></h2>' in page
    assert f".badge.{status} {{" in page


def test_write_report_splits_paragraphs(tmp_path: Path):
    out = tmp_path / "report.html"
    write_report(out, title="T", sections=[{"heading": "H", "text": "first\nline\n\nsecond"}])
    page = out.read_text(encoding="utf-8")
    assert "<p>first\nline</p>\n<p>second</p>" in page


@pytest.mark.parametrize(("sections", "message"), [
    ([{"heading": "H", "tabel": {}}],
     "sections[0] has unknown key 'tabel'; allowed keys are heading, text, table, images, status. "
     "Did you mean 'table'?"),
    ([{"heading": "H"}, {"text": "no heading"}], "sections[1] must have a 'heading'."),
    (["just a string"], "sections[0] must be a dict. Got str instead."),
    ([{"heading": "H", "status": "passed"}],
     "sections[0].status must be one of pass, fail, warn. Got 'passed' instead."),
    ([{"heading": "H", "table": {"columns": ["a", "b"], "rows": [[1, 2], [3]]}}],
     "sections[0].table.rows[1] must have 2 values, one per column. Got 1 instead."),
    ([{"heading": "H", "table": [[1, 2]]}],
     "sections[0].table must be a dict with 'columns' and 'rows'. Got [[1, 2]] instead."),
])
def test_write_report_rejects_bad_sections(tmp_path: Path, sections: list, message: str):
    with pytest.raises(ValueError) as info:
        write_report(tmp_path / "report.html", title="T", sections=sections)
    assert str(info.value) == message
    assert not (tmp_path / "report.html").exists()


def test_write_report_rejects_non_png_image(tmp_path: Path):
    fake = tmp_path / "plot.png"
    fake.write_bytes(b"GIF89a not a png")
    with pytest.raises(ValueError, match="must be a PNG image"):
        write_report(tmp_path / "report.html", title="T", sections=[{"heading": "H", "images": [fake]}])


def test_write_report_replaces_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    out = tmp_path / "sub" / "report.html"
    write_report(out, title="first", sections=[])
    assert "<title>first</title>" in out.read_text(encoding="utf-8")
    assert oct(out.stat().st_mode & 0o777) == oct(0o644)

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(report_html.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_report(out, title="second", sections=[{"heading": "H", "text": "x" * 10_000}])
    assert "<title>first</title>" in out.read_text(encoding="utf-8")    # old report intact
    assert os.listdir(out.parent) == ["report.html"]                     # no temp file left

    monkeypatch.undo()
    write_report(out, title="second", sections=[])
    assert "<title>second</title>" in out.read_text(encoding="utf-8")
    assert os.listdir(out.parent) == ["report.html"]


# --------------------------------------------------------------------------- import cost


def test_importing_report_does_not_import_heavy_libraries():
    code = ("import sys, mlflow_cli.reports.plots; "
            "print(sorted(m for m in ('matplotlib', 'numpy', 'sklearn', 'pandas') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert result.stdout.strip() == "[]"


def test_make_plots_never_touches_pyplot(tmp_path: Path):
    """No global figure registry: plots are drawn on Figure objects with the Agg canvas."""
    code = ("import sys; from mlflow_cli.reports.plots import make_plots; "
            f"make_plots({str(tmp_path)!r}, 'clustering', y_pred=[0, 1, 1, 2], importances={{'a': 1.0}}); "
            "print('matplotlib.pyplot' in sys.modules)")
    env = {**os.environ, "MPLBACKEND": "TkAgg"}         # a GUI default must not matter
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
    assert files(tmp_path) == {"cluster_sizes.png", "feature_importance.png"}
