"""Compact, mergeable summaries of a column's values: what monitoring keeps of the reference data
(a model's training rows) so that a monitor run never reloads them.

- Numbers: count, missing, mean and spread, and the distribution function: for a column of up
  to EXACT_MAX distinct values, however many rows, every distinct value with its share (exact:
  a discrete column keeps its steps), above that the values at the quantile levels LEVELS
  (every 0.1 %, finer in the tails), which pin the function down to within 1/1000 of the mass.
  Summaries of partitions merge by averaging their distribution functions, weighted
  by their counts, and reading the quantiles of the average back (`NumericSummary.merged`): the
  merged function stays within the same 1/1000 of the whole data's, so a partitioned engine
  (Dask) can summarise its parts where they are.
- Categories: exact counts per value (merged by adding).

`data/drift.py` compares a summary with current rows. Depends on numpy only (pandas frames are
read through their numpy values).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_TAILS = np.logspace(-6, -3, 13)
# The quantile levels a large numeric summary keeps: every 0.1 %, and finer in both tails, where
# a skewed column's values spread most (the Wasserstein distance is mostly decided there).
LEVELS = np.unique(np.concatenate([np.linspace(0.0, 1.0, 1001), _TAILS, 1.0 - _TAILS]))
EXACT_MAX = 5000  # up to this many distinct values a summary keeps every one with its share


def tie_starts(ordered: np.ndarray) -> np.ndarray:
    """Where each run of equal values starts in sorted values (their distinct values' positions)."""
    return np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))


@dataclass(frozen=True)
class NumericSummary:
    """`knots` ascending with `shares`, the share of values at or below each. Exact (`exact`): the
    distinct values themselves, the distribution function a step at each. Otherwise: the values
    at LEVELS, the function linear between them."""

    count: int                 # values present (not missing)
    missing: int
    mean: float
    std: float                 # population standard deviation (ddof 0)
    knots: np.ndarray
    shares: np.ndarray
    exact: bool

    @classmethod
    def of(cls, values: Any) -> NumericSummary:
        values = np.asarray(values, dtype=float)
        present = values[~np.isnan(values)]
        if len(present) == 0:
            return cls._empty(len(values))
        missing = len(values) - len(present)
        mean, std = float(present.mean()), float(present.std())
        ordered = np.sort(present)
        starts = tie_starts(ordered)
        if len(starts) <= EXACT_MAX:
            ends = np.concatenate([starts[1:], [len(ordered)]])
            return cls(len(present), missing, mean, std, ordered[starts], ends / len(ordered), True)
        return cls(len(present), missing, mean, std, np.quantile(ordered, LEVELS), LEVELS.copy(), False)

    @classmethod
    def _empty(cls, missing: int) -> NumericSummary:
        return cls(0, missing, float("nan"), float("nan"), np.empty(0), np.empty(0), True)

    @classmethod
    def merged(cls, parts: list[NumericSummary]) -> NumericSummary:
        """One summary of the union of the parts' values (see the module docstring)."""
        filled = [p for p in parts if p.count]
        missing = sum(p.missing for p in parts)
        if not filled:
            return cls._empty(missing)
        count = sum(p.count for p in filled)
        mean = sum(p.count * p.mean for p in filled) / count
        variance = sum(p.count * (p.std ** 2 + (p.mean - mean) ** 2) for p in filled) / count
        knots = np.unique(np.concatenate([p.knots for p in filled]))
        if all(p.exact for p in filled) and len(knots) <= EXACT_MAX:
            shares = sum(p.count * p.cdf(knots) for p in filled) / count
            return cls(count, missing, float(mean), float(np.sqrt(variance)), knots, shares, True)
        knots = np.unique(np.concatenate([np.nextafter(knots, -np.inf), knots]))  # the step below a tie, too
        cdf = sum(p.count * p.cdf(knots) for p in filled) / count
        quantiles = np.interp(LEVELS, cdf, knots)  # the averaged function's inverse (flat at ties)
        quantiles[0] = min(p.knots[0] for p in filled)
        quantiles[-1] = max(p.knots[-1] for p in filled)
        return cls(count, missing, float(mean), float(np.sqrt(variance)), quantiles, LEVELS.copy(), False)

    def cdf(self, x: Any) -> np.ndarray:
        """The share of values at or below x."""
        x = np.asarray(x, dtype=float)
        knots, shares = self.knots, self.shares
        upper = np.searchsorted(knots, x, side="right")  # knots at or below x
        if self.exact:
            return np.where(upper > 0, shares[np.maximum(upper - 1, 0)], 0.0)
        # Several levels share a value where values repeat: the share at that value is the highest.
        below = np.clip(upper - 1, 0, len(knots) - 1)
        above = np.clip(upper, 0, len(knots) - 1)
        lo, hi = knots[below], knots[above]
        span = np.where(hi > lo, hi - lo, 1.0)
        share = shares[below] + (shares[above] - shares[below]) * np.clip((x - lo) / span, 0.0, 1.0)
        share = np.where(upper >= len(knots), 1.0, share)
        return np.where(x < knots[0], 0.0, share)

    def quantile(self, levels: Any) -> np.ndarray:
        """The values at these shares (exact: the smallest value whose share reaches the level)."""
        levels = np.asarray(levels, dtype=float)
        if self.exact:
            return self.knots[np.minimum(np.searchsorted(self.shares, levels - 1e-12), len(self.knots) - 1)]
        return np.interp(levels, self.shares, self.knots)

    def to_json(self) -> dict[str, Any]:
        return {"kind": "numeric", "count": self.count, "missing": self.missing, "mean": self.mean,
                "std": self.std, "exact": self.exact, "knots": self.knots.tolist(),
                "shares": self.shares.tolist() if self.exact else None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NumericSummary:
        knots = np.asarray(data["knots"], dtype=float)
        exact = bool(data["exact"])
        shares = np.asarray(data["shares"], dtype=float) if exact else LEVELS.copy()
        if len(knots) != len(shares) or (data["count"] and len(knots) == 0) or np.any(np.diff(knots) < 0):
            raise ValueError("a numeric summary's knots must be ascending, one per share")
        return cls(int(data["count"]), int(data["missing"]), float(data["mean"]), float(data["std"]), knots,
                   shares, exact)


@dataclass(frozen=True)
class CategoricalSummary:
    missing: int
    counts: dict[str, int] = field(default_factory=dict)  # value (as text) -> rows

    @property
    def count(self) -> int:
        return sum(self.counts.values())

    @classmethod
    def of(cls, values: Any) -> CategoricalSummary:
        values = np.asarray(values, dtype=object)
        missing = np.array([v is None or (isinstance(v, float) and v != v) for v in values], dtype=bool)
        counts = Counter(str(v) for v in values[~missing])
        return cls(int(missing.sum()), dict(counts.most_common()))

    @classmethod
    def merged(cls, parts: list[CategoricalSummary]) -> CategoricalSummary:
        counts: Counter = Counter()
        for part in parts:
            counts.update(part.counts)
        return cls(sum(p.missing for p in parts), dict(counts.most_common()))

    def to_json(self) -> dict[str, Any]:
        return {"kind": "categorical", "missing": self.missing, "counts": self.counts}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CategoricalSummary:
        return cls(int(data["missing"]), {str(k): int(v) for k, v in data["counts"].items()})


Summary = NumericSummary | CategoricalSummary


def summary_from_json(data: dict[str, Any]) -> Summary:
    kind = data.get("kind")
    if kind == "numeric":
        return NumericSummary.from_json(data)
    if kind == "categorical":
        return CategoricalSummary.from_json(data)
    raise ValueError(f"a column summary's kind must be numeric or categorical; got {kind!r}")
