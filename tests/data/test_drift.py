"""data/summary.py and data/drift.py: drift statistics from a reference summary agree with scipy on
the raw rows (KS statistic within 0.005, Wasserstein within 1 %, chi-square and Jensen-Shannon
exactly), on synthetic data of several shapes and sizes and on the shipped churn batches; the
summaries merge from partitions and survive JSON."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from mlflow_cli.data.drift import categorical_drift, numeric_drift, psi
from mlflow_cli.data.summary import (EXACT_MAX, CategoricalSummary, NumericSummary, summary_from_json)

from ..conftest import DATA

RNG = np.random.default_rng(11)
SHAPES = {
    "normal, shifted": (lambda n: RNG.normal(0, 1, n), lambda n: RNG.normal(0.1, 1, n)),
    "normal, same": (lambda n: RNG.normal(0, 1, n), lambda n: RNG.normal(0, 1, n)),
    "lognormal, skewed": (lambda n: RNG.lognormal(0, 1, n), lambda n: RNG.lognormal(0.2, 1.1, n)),
    "exponential": (lambda n: RNG.exponential(2, n), lambda n: RNG.exponential(2.5, n)),
    "few integers": (lambda n: RNG.integers(0, 10, n).astype(float), lambda n: RNG.integers(0, 12, n).astype(float)),
    "a third zeros": (lambda n: np.where(RNG.random(n) < 0.3, 0.0, RNG.normal(5, 1, n)),
                      lambda n: np.where(RNG.random(n) < 0.4, 0.0, RNG.normal(5, 1, n))),
}


def _agrees_with_scipy(reference: np.ndarray, current: np.ndarray, summary: NumericSummary) -> None:
    found = numeric_drift(summary, current)
    ks = stats.ks_2samp(reference, current, method="asymp")
    wasserstein = stats.wasserstein_distance(reference, current)
    assert found.ks == pytest.approx(ks.statistic, abs=0.005)
    assert found.wasserstein == pytest.approx(wasserstein, rel=0.01)
    assert found.effect == pytest.approx(found.wasserstein / reference.std(), rel=1e-9)
    if ks.pvalue > 1e-12:
        assert found.p_value == pytest.approx(ks.pvalue, rel=0.2, abs=0.01)
    else:
        assert found.p_value < 1e-9
    assert (found.reference_rows, found.current_rows) == (len(reference), len(current))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("rows", [800, 20_000, 300_000])
def test_numeric_statistics_from_a_summary_agree_with_scipy_on_the_raw_rows(shape, rows):
    make_reference, make_current = SHAPES[shape]
    reference, current = make_reference(rows), make_current(max(rows // 3, 300))
    summary = NumericSummary.of(reference)
    assert summary.exact == (len(np.unique(reference)) <= EXACT_MAX)
    _agrees_with_scipy(reference, current, summary)


def test_a_summary_merged_from_partitions_gives_the_same_statistics():
    """A partitioned engine summarises each part where it is: the merged summary's statistics
    still agree with scipy on all the rows, and its distribution function with the whole's."""
    reference = RNG.lognormal(0, 1, 240_000)
    current = RNG.lognormal(0.1, 1, 60_000)
    parts = [NumericSummary.of(part) for part in np.array_split(np.sort(reference)[::-1], 7)]  # unlike ranges
    merged = NumericSummary.merged(parts)
    _agrees_with_scipy(reference, current, merged)
    grid = np.quantile(reference, np.linspace(0, 1, 5001))
    assert np.max(np.abs(merged.cdf(grid) - NumericSummary.of(reference).cdf(grid))) < 0.002
    assert (merged.count, merged.mean, merged.std) == (len(reference), pytest.approx(reference.mean()),
                                                       pytest.approx(reference.std()))
    small = NumericSummary.merged([NumericSummary.of(p) for p in np.array_split(reference[:3000], 3)])
    assert small.exact and small.cdf(reference[:3000]) == pytest.approx(NumericSummary.of(reference[:3000]).cdf(
        reference[:3000]))


def test_a_discrete_column_keeps_its_steps_however_many_rows():
    """A million integers 0..49 (many ties): the summary is exact, so KS and Wasserstein are
    scipy's, an undrifted sample shows no drift, and summaries of its parts merge exactly."""
    reference = RNG.integers(0, 50, 1_000_000).astype(float)
    current = RNG.integers(0, 50, 1_000_000).astype(float)
    summary = NumericSummary.of(reference)
    assert summary.exact and len(summary.knots) == 50
    found = numeric_drift(summary, current)
    ks = stats.ks_2samp(reference, current, method="asymp")
    assert found.ks == pytest.approx(ks.statistic, abs=1e-12)
    assert found.wasserstein == pytest.approx(stats.wasserstein_distance(reference, current), rel=1e-9)
    assert found.p_value == pytest.approx(ks.pvalue, rel=0.05) and found.p_value > 0.001
    merged = NumericSummary.merged([NumericSummary.of(p) for p in np.array_split(reference, 9)])
    assert merged.exact and merged.cdf(np.arange(50)) == pytest.approx(summary.cdf(np.arange(50)), abs=1e-12)
    wide = NumericSummary.merged([NumericSummary.of(RNG.integers(0, 4000, 10_000)) for _ in range(2)]
                                 + [NumericSummary.of(RNG.integers(4000, 8000, 10_000))])
    assert not wide.exact and wide.count == 30_000  # more distinct values than EXACT_MAX between them


def test_missing_values_are_counted_apart_and_summaries_survive_json():
    values = np.array([1.0, np.nan, 2.0, 2.0, np.nan, 7.5] * 2000 + list(np.linspace(10, 11, 6000)))
    summary = NumericSummary.of(values)
    assert (summary.count, summary.missing, summary.exact) == (14000, 4000, False)
    again = summary_from_json(json.loads(json.dumps(summary.to_json())))
    assert np.array_equal(again.knots, summary.knots) and again.cdf([1.5, 2.0, 7.5]).tolist() == \
        summary.cdf([1.5, 2.0, 7.5]).tolist()
    assert summary.cdf([0.5, 1.0, 2.0, 7.5, 10.5, 11]) == pytest.approx(
        [0.0, 2 / 14, 6 / 14, 8 / 14, 11 / 14, 1.0], abs=0.0015)  # to 1/1000
    categories = CategoricalSummary.of(["a", None, "b", "a", float("nan")])
    assert (categories.missing, categories.counts) == (2, {"a": 2, "b": 1})
    assert summary_from_json(json.loads(json.dumps(categories.to_json()))) == categories
    with pytest.raises(ValueError, match="knots must be ascending"):
        summary_from_json({**summary.to_json(), "knots": summary.to_json()["knots"][::-1]})
    with pytest.raises(ValueError, match="kind must be numeric or categorical"):
        summary_from_json({"kind": "text"})


def test_categorical_statistics_are_scipys_on_the_contingency_table():
    reference = RNG.choice(list("abcdefghij"), 50_000, p=[0.3, 0.2, 0.1, 0.1, 0.1, 0.05, 0.05, 0.04, 0.03, 0.03])
    current = np.concatenate([RNG.choice(list("abcdefghij"), 9_000), ["new"] * 50])
    found = categorical_drift(CategoricalSummary.of(reference), current)
    names = sorted(set(reference) | set(current))
    table = np.array([[np.sum(reference == c) for c in names], [np.sum(current == c) for c in names]])
    chi2, p_value, _, _ = stats.chi2_contingency(table, correction=False)
    shares = table / table.sum(axis=1, keepdims=True)
    assert found.chi2 == pytest.approx(chi2, rel=1e-9) and found.p_value == pytest.approx(p_value, abs=1e-12)
    assert found.jensen_shannon == pytest.approx(jensenshannon(shares[0], shares[1], base=2), rel=1e-9)
    assert found.new_categories == ["new"]
    same = categorical_drift(CategoricalSummary.of(reference), reference)
    assert (same.chi2, same.jensen_shannon, same.psi) == (pytest.approx(0.0), pytest.approx(0.0, abs=1e-7),
                                                          pytest.approx(0.0))
    one = categorical_drift(CategoricalSummary.of(["x"] * 10), ["x"] * 5)
    assert (one.chi2, one.p_value) == (0.0, 1.0)


def test_psi_is_the_textbook_sum_with_empty_bins_floored():
    expected, actual = np.array([0.5, 0.3, 0.2]), np.array([0.4, 0.4, 0.2])
    assert psi(expected, actual) == pytest.approx(0.1 * np.log(0.4 / 0.5) * -1 + 0.1 * np.log(0.4 / 0.3))
    assert np.isfinite(psi(np.array([0.5, 0.5, 0.0]), np.array([0.4, 0.4, 0.2])))
    drift = numeric_drift(NumericSummary.of(RNG.normal(0, 1, 50_000)), RNG.normal(1, 1, 20_000))
    assert drift.psi > 0.25  # a shift of one standard deviation: "significant" by the usual PSI scale


def test_statistics_on_the_shipped_churn_batches_agree_with_scipy():
    """The training data and the later batch users score (data/churn.csv, data/churn_new.csv)."""
    old, new = pd.read_csv(DATA / "churn.csv"), pd.read_csv(DATA / "churn_new.csv")
    for column in ("tenure_months", "monthly_charges", "total_charges", "support_calls"):
        reference = old[column].dropna().to_numpy(dtype=float)
        _agrees_with_scipy(reference, new[column].dropna().to_numpy(dtype=float), NumericSummary.of(reference))
    for column in ("plan", "region", "autopay"):
        found = categorical_drift(CategoricalSummary.of(old[column].to_numpy()), new[column].to_numpy())
        names = list(dict.fromkeys([*old[column].dropna().astype(str), *new[column].dropna().astype(str)]))
        table = np.array([[int((old[column].astype(str) == c).sum()) for c in names],
                          [int((new[column].astype(str) == c).sum()) for c in names]])
        assert found.chi2 == pytest.approx(stats.chi2_contingency(table, correction=False)[0], rel=1e-9)


def test_no_values_on_a_side_is_refused():
    with pytest.raises(ValueError, match="both sides"):
        numeric_drift(NumericSummary.of([np.nan, np.nan]), [1.0])
    with pytest.raises(ValueError, match="both sides"):
        categorical_drift(CategoricalSummary.of(["a"]), [None])
