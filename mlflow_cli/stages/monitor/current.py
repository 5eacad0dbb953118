"""The current data of `mlw monitor`, read once in parts and folded into what the checks need:
each column's values as drift compares them (models/reference.py: `column_values`), the data
quality counts against prepare's schema, the target's values when the rows hold it, and a
uniform sample of rows for the model to score (`monitor.score_rows`).

A part function (`part_facts`) works on one part alone, so an engine can map it where the parts
are; `Tally.add` folds the parts on the driver, in source order. A Parquet file decodes a whole
row group at once (a file written by pandas holds up to a million rows in one), so when its
row groups are larger than GROUP_BYTES the columns are read in groups (`column_groups`), one
pass each, into one Tally each, and `Tally.side_by_side` puts the passes together: memory then
holds one group of columns of a row group, not all of it. A numeric column's values are
kept as they are up to RAW_LIMIT (the statistics are then exact on the current side) and beyond
that folded into a summary every RAW_LIMIT values (data/summary.py), so memory stays bounded
however many rows come: then both distribution functions are a summary's (within 1/1000 of the
mass each; exact for a column of few distinct values).

Heavy (pandas): the stage imports it only to run.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from mlflow_cli.data.summary import CategoricalSummary, NumericSummary
from mlflow_cli.models.reference import column_values, drift_kind, target_values

RAW_LIMIT = 200_000     # values of a numeric column kept as they are; more are folded into summaries
MERGE_EVERY = 16        # summaries merged into one once this many have piled up
GROUP_BYTES = 32 << 20  # a Parquet row group larger than this is read a group of columns at a time
SAMPLE_KEY = "__mlw_sample_key__"


class NumericValues:
    """A numeric column's current values: raw up to RAW_LIMIT, then summaries (see the module)."""

    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []
        self.held = 0
        self.summaries: list[NumericSummary] = []
        self.missing = 0

    def add(self, values: np.ndarray) -> None:
        present = values[~np.isnan(values)]
        self.missing += len(values) - len(present)
        self.parts.append(present)
        self.held += len(present)
        if self.held > RAW_LIMIT:
            self.summaries.append(NumericSummary.of(np.concatenate(self.parts)))
            self.parts, self.held = [], 0
            if len(self.summaries) >= MERGE_EVERY:
                self.summaries = [NumericSummary.merged(self.summaries)]

    def add_summary(self, summary: NumericSummary) -> None:
        self.summaries.append(summary)

    @property
    def count(self) -> int:
        return self.held + sum(s.count for s in self.summaries)

    def result(self) -> np.ndarray | NumericSummary:
        """The values themselves when every one was kept, else their summary."""
        raw = np.concatenate(self.parts) if self.parts else np.empty(0)
        if not self.summaries:
            return raw
        parts = self.summaries + ([NumericSummary.of(raw)] if len(raw) else [])
        merged = NumericSummary.merged(parts)
        return NumericSummary(merged.count, self.missing, merged.mean, merged.std, merged.knots, merged.shares,
                              merged.exact)


def accumulator(kind: str) -> NumericValues | Counter:
    return NumericValues() if drift_kind(kind) == "numeric" else Counter()


def fold(into: NumericValues | Counter, values: Any) -> None:
    if isinstance(into, NumericValues):
        into.add(values)
    else:
        into.update(values)


def counts_of(labels: np.ndarray) -> Counter:
    """Category counts of text labels (None: missing, counted under None)."""
    series = pd.Series(labels, dtype=object)
    counts = Counter({str(k): int(v) for k, v in series.value_counts(dropna=True).items()})
    missing = int(series.isna().sum())
    if missing:
        counts[None] = missing  # type: ignore[index]
    return counts


def as_summary(acc: NumericValues | Counter) -> np.ndarray | NumericSummary | CategoricalSummary:
    """What data/drift.py compares with the reference: values or a summary."""
    if isinstance(acc, NumericValues):
        return acc.result()
    missing = acc.get(None, 0)  # type: ignore[call-overload]
    return CategoricalSummary(missing, {k: v for k, v in acc.most_common() if k is not None})


@dataclass
class ColumnQuality:
    rows: int = 0
    missing: int = 0
    unreadable: int = 0          # present, but not a value of the column's kind ('abc' in a number column)
    below: int = 0               # numbers below the training minimum
    above: int = 0               # and above the maximum
    new_categories: Counter = field(default_factory=Counter)


@dataclass
class PartFacts:
    """What one part holds, computed from the part alone (`part_facts`)."""

    rows: int
    names: list[str]
    values: dict[str, Any]                  # column -> floats or category counts
    quality: dict[str, ColumnQuality]
    target: Any                             # the target's values (floats or counts), when present
    id_hashes: np.ndarray | None
    sample: pd.DataFrame | None             # the part's rows (model columns, target, ids) with their sample keys


def part_facts(frame: pd.DataFrame, schema: dict[str, Any], *, target: str | None, categorical_target: bool,
               id_columns: list[str], sample_columns: list[str], seed: int, first_row: int) -> PartFacts:
    """The per-part work: coerce each column as its kind reads it, count what is wrong with it,
    hash the ids, and draw each row's sample key (from the seed and the part's first row: the
    same source read the same way gives the same sample)."""
    values: dict[str, Any] = {}
    quality: dict[str, ColumnQuality] = {}
    for name, spec in schema["columns"].items():
        if name not in frame.columns:
            continue
        kind, raw = spec["kind"], frame[name]
        coerced = column_values(raw, kind)
        q = ColumnQuality(rows=len(raw))
        missing_raw = raw.isna().to_numpy() | _blank(raw)
        if drift_kind(kind) == "numeric":
            missing = np.isnan(coerced)
            if kind != "text":
                low, high = _range(spec)
                if low is not None:
                    q.below = int(np.sum(coerced < low))
                if high is not None:
                    q.above = int(np.sum(coerced > high))
            values[name] = coerced
        else:
            missing = pd.isna(coerced)
            counts = counts_of(coerced)
            known = spec.get("categories")
            if kind == "categorical" and known is not None:
                q.new_categories = Counter({c: n for c, n in counts.items() if c is not None and c not in set(known)})
            values[name] = counts
        q.missing = int(np.sum(missing))
        q.unreadable = int(np.sum(missing & ~missing_raw)) if kind != "text" else 0
        quality[name] = q
    target_part = None
    if target and target in frame.columns:
        labels = target_values(frame[target], categorical_target)
        target_part = counts_of(labels) if categorical_target else labels
    ids = None
    present_ids = [c for c in id_columns if c in frame.columns]
    if present_ids and len(present_ids) == len(id_columns):
        ids = pd.util.hash_pandas_object(frame[present_ids], index=False).to_numpy()
    sample = None
    if sample_columns:
        sample = frame[[c for c in sample_columns if c in frame.columns]].copy()
        sample[SAMPLE_KEY] = np.random.default_rng([seed, first_row]).random(len(frame))
    return PartFacts(len(frame), list(frame.columns), values, quality, target_part, ids, sample)


def _blank(raw: pd.Series) -> np.ndarray:
    if pd.api.types.is_string_dtype(raw) or raw.dtype == object:
        return (raw.astype("string").str.strip() == "").fillna(False).to_numpy(dtype=bool)
    return np.zeros(len(raw), dtype=bool)


def _range(spec: dict[str, Any]) -> tuple[float | None, float | None]:
    """The training range of a numeric or date column, in the units column_values gives."""
    low, high = spec.get("min"), spec.get("max")
    if spec["kind"] == "datetime":
        def days(text: Any) -> float | None:
            return None if text is None else float(column_values(pd.Series([text]), "datetime")[0])
        return days(low), days(high)
    return (None if low is None else float(low)), (None if high is None else float(high))


class ColumnGroups(NamedTuple):
    groups: list[list[str]]   # the columns of each pass
    names: list[str]          # every column of the file (its extra columns are reported too)


def column_groups(path: str, wanted: list[str], first: list[str], shared: list[str],
                  budget: int | None = None) -> ColumnGroups | None:
    """The columns of a Parquet file to read in separate passes, or None when its row groups are
    small enough to read whole. Each group is at most `budget` bytes of a row group (the
    columns' uncompressed sizes in the file's metadata), `first` (columns read together: the
    ids) leads the first group, and `shared` (the time column a window filters on) is in
    every group. `budget`: GROUP_BYTES unless given."""
    import pyarrow.parquet as pq

    budget = GROUP_BYTES if budget is None else budget
    file = pq.ParquetFile(path)
    meta = file.metadata
    largest: dict[str, int] = {}
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for i in range(group.num_columns):
            name = group.column(i).path_in_schema.split(".")[0]
            largest[name] = max(largest.get(name, 0), group.column(i).total_uncompressed_size)
    present = [c for c in dict.fromkeys(first + wanted) if c in largest and c not in shared]
    common = [c for c in shared if c in largest]
    fixed = sum(largest[c] for c in common)
    if fixed + sum(largest[c] for c in present) <= budget:
        return None
    groups: list[list[str]] = []
    held: list[str] = []
    size = fixed
    for name in present:
        if held and size + largest[name] > budget and not (len(groups) == 0 and name in first):
            groups.append(common + held)
            held, size = [], fixed
        held.append(name)
        size += largest[name]
    return ColumnGroups(groups + [common + held] if held else groups, file.schema_arrow.names)


class Tally:
    """The parts folded in source order: everything the checks read of the current data."""

    def __init__(self, schema: dict[str, Any], score_rows: int) -> None:
        self.schema = schema
        self.score_rows = score_rows
        self.rows = 0
        self.names: list[str] | None = None
        self.values: dict[str, NumericValues | Counter] = {}
        self.quality: dict[str, ColumnQuality] = {}
        self.target: NumericValues | Counter | None = None
        self.id_hashes: list[np.ndarray] = []
        self.sample: pd.DataFrame | None = None

    def add(self, facts: PartFacts) -> None:
        self.rows += facts.rows
        if self.names is None:
            self.names = facts.names
        for name, values in facts.values.items():
            acc = self.values.get(name)
            if acc is None:
                acc = self.values[name] = accumulator(self.schema["columns"][name]["kind"])
            fold(acc, values)
        for name, q in facts.quality.items():
            total = self.quality.setdefault(name, ColumnQuality())
            total.rows += q.rows
            total.missing += q.missing
            total.unreadable += q.unreadable
            total.below += q.below
            total.above += q.above
            total.new_categories.update(q.new_categories)
        if facts.target is not None:
            if self.target is None:
                self.target = Counter() if isinstance(facts.target, Counter) else NumericValues()
            fold(self.target, facts.target)
        if facts.id_hashes is not None:
            self.id_hashes.append(facts.id_hashes)
        if facts.sample is not None:
            self._keep_sample(facts.sample)

    def _keep_sample(self, part: pd.DataFrame) -> None:
        """Priority sampling: the `score_rows` rows with the smallest random keys over all the
        parts are a uniform sample of the rows, whatever the number of parts."""
        held = part if self.sample is None else pd.concat([self.sample, part], ignore_index=True)
        if len(held) > self.score_rows:
            keep = np.argpartition(held[SAMPLE_KEY].to_numpy(), self.score_rows - 1)[:self.score_rows]
            held = held.iloc[np.sort(keep)].reset_index(drop=True)
        self.sample = held

    @classmethod
    def side_by_side(cls, passes: list[Tally], names: list[str]) -> Tally:
        """One Tally of the same rows read in several passes of different columns (see the module
        docstring); `names`: the source's columns. A column read in more than one pass (the time
        column) counts from the first. The samples hold the same rows (their keys come from the
        seed and the row numbers), joined on their keys."""
        whole = cls(passes[0].schema, passes[0].score_rows)
        whole.rows, whole.names = passes[0].rows, names
        samples = []
        for one in passes:
            for name, acc in one.values.items():
                whole.values.setdefault(name, acc)
            for name, q in one.quality.items():
                whole.quality.setdefault(name, q)
            if whole.target is None:
                whole.target = one.target
            whole.id_hashes = whole.id_hashes or one.id_hashes
            if one.sample is not None:
                taken = set().union(*(s.columns for s in samples)) - {SAMPLE_KEY} if samples else set()
                samples.append(one.sample[[c for c in one.sample.columns if c not in taken]])
        order = list(whole.schema["columns"])  # the order one pass gives
        whole.values = {c: whole.values[c] for c in order if c in whole.values}
        whole.quality = {c: whole.quality[c] for c in order if c in whole.quality}
        if samples:
            sample = samples[0]
            for more in samples[1:]:
                sample = sample.merge(more, on=SAMPLE_KEY, how="inner", validate="one_to_one")
            whole.sample = sample
        return whole

    def duplicated_ids(self) -> int | None:
        """Rows whose id columns repeat an earlier row's (None: the data has no id columns)."""
        if not self.id_hashes:
            return None
        hashes = np.concatenate(self.id_hashes)
        return int(len(hashes) - len(np.unique(hashes)))

    def sampled(self) -> pd.DataFrame | None:
        if self.sample is None:
            return None
        return self.sample.drop(columns=[SAMPLE_KEY])
