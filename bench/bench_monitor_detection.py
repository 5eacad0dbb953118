"""Drift detection of `mlw monitor` on synthetic data with known shifts (issue 11).

Reference and current: N rows x 20 columns, 15 numeric of several distributions and 5
categorical of about 10 levels. Five columns drift on purpose, with graded sizes: means shifted
by 0.5, 0.25 and 0.05 reference standard deviations, and 35 % and 8 % of a top category's mass
moved to the rare ones. The verdicts come from the code `mlw monitor` runs: the reference is
built as train builds it (models/reference.py), the current rows are folded in parts as monitor
reads them (stages/monitor/current.py) and judged by stages/monitor/checks.py.

1. Detection at N = 1,000, 100,000 and 1,000,000: every large shift (0.5, 0.25 sd; 35 %) must be
   `drift`, the small ones (0.05 sd; 8 %) `minor` or `drift` from 100,000 rows up, and none of the
   15 undrifted columns flagged.
2. False alarms: 200 seeds of undrifted data at N = 1,000 and 100,000; the share of columns flagged
   `drift` (per column, over the seeds) must be at most 5 %. The baseline printed beside it is
   the same data judged by the test alone at p < 0.05 without the correction (what a per-column
   test at the usual level raises).

    .venv/bin/python bench/bench_monitor_detection.py [--seeds 200] [--sizes 1000,100000,1000000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlflow_cli.core.config import DriftConfig  # noqa: E402
from mlflow_cli.models.reference import build_reference  # noqa: E402
from mlflow_cli.stages.monitor.checks import data_drift  # noqa: E402
from mlflow_cli.stages.monitor.current import Tally, as_summary, part_facts  # noqa: E402

NUMERIC = ["normal", "lognormal", "exponential", "uniform", "student_t", "bimodal", "poisson", "gamma",
           "beta", "normal_wide", "laplace", "weibull", "integers", "normal_2", "lognormal_2"]
LEVELS = list("abcdefghij")
LEVEL_P = np.array([0.30, 0.20, 0.14, 0.10, 0.08, 0.06, 0.05, 0.04, 0.02, 0.01])
CATEGORICAL = [f"cat_{i}" for i in range(5)]
SHIFTS = {"normal": 0.5, "lognormal": 0.25, "exponential": 0.05}          # in reference sds
MOVES = {"cat_0": 0.35, "cat_1": 0.08}                                    # share of the top level's mass
LARGE = {"normal", "lognormal", "cat_0"}
SMALL = {"exponential", "cat_1"}
SCHEMA = {"columns": {**{c: {"kind": "numeric"} for c in NUMERIC},
                      **{c: {"kind": "categorical", "categories": LEVELS} for c in CATEGORICAL}},
          "task": "classification"}
PART_ROWS = 250_000


def draw(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    return {
        "normal": lambda: rng.normal(0, 1, n), "lognormal": lambda: rng.lognormal(0, 0.8, n),
        "exponential": lambda: rng.exponential(2.0, n), "uniform": lambda: rng.uniform(-3, 3, n),
        "student_t": lambda: rng.standard_t(3, n), "bimodal": lambda: np.where(rng.random(n) < 0.4,
                                                                                rng.normal(-2, 0.5, n),
                                                                                rng.normal(2, 1, n)),
        "poisson": lambda: rng.poisson(3, n).astype(float), "gamma": lambda: rng.gamma(2, 2, n),
        "beta": lambda: rng.beta(2, 5, n), "normal_wide": lambda: rng.normal(100, 25, n),
        "laplace": lambda: rng.laplace(0, 1, n), "weibull": lambda: rng.weibull(1.5, n),
        "integers": lambda: rng.integers(0, 50, n).astype(float), "normal_2": lambda: rng.normal(5, 2, n),
        "lognormal_2": lambda: rng.lognormal(1, 0.4, n),
    }[name]()


def moved_levels(move: float) -> np.ndarray:
    """The level shares after `move` of the top level's mass went to the four rarest levels."""
    p = LEVEL_P.copy()
    taken = p[0] * move
    p[0] -= taken
    p[-4:] += taken / 4
    return p


# the reference sd of each shifted distribution (analytically, so every seed shifts the same amount)
SD = {"normal": 1.0, "lognormal": float(np.sqrt((np.exp(0.64) - 1) * np.exp(0.64))), "exponential": 2.0}


def table(n: int, seed: int, drifted: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    columns = {}
    for name in NUMERIC:
        values = draw(name, n, rng)
        if drifted and name in SHIFTS:
            values = values + SHIFTS[name] * SD[name]
        columns[name] = values
    for name in CATEGORICAL:
        p = moved_levels(MOVES[name]) if drifted and name in MOVES else LEVEL_P
        columns[name] = np.asarray(LEVELS, dtype=object)[rng.choice(len(LEVELS), n, p=p)]
    return pd.DataFrame(columns)


def verdicts(reference_rows: pd.DataFrame, current_rows: pd.DataFrame, cfg: DriftConfig) -> dict[str, dict]:
    reference = build_reference(SCHEMA, reference_rows, None, True, None)
    tally = Tally(SCHEMA, score_rows=1)
    for start in range(0, len(current_rows), PART_ROWS):
        part = current_rows.iloc[start:start + PART_ROWS].reset_index(drop=True)
        tally.add(part_facts(part, SCHEMA, target=None, categorical_target=True, id_columns=[], sample_columns=[],
                             seed=0, first_row=start + 1))
    return data_drift(reference, {c: as_summary(a) for c, a in tally.values.items()}, cfg)["columns"]


def detection(sizes: list[int], cfg: DriftConfig) -> bool:
    print("## Detection (seed 0)\n")
    print("| N | " + " | ".join(f"{c} ({_what(c)})" for c in ["normal", "lognormal", "exponential", "cat_0", "cat_1"])
          + " | undrifted flagged | seconds |")
    print("| ---: | " + " | ".join("---" for _ in range(5)) + " | ---: | ---: |")
    ok = True
    for n in sizes:
        started = time.perf_counter()
        found = verdicts(table(n, 1, drifted=False), table(n, 2, drifted=True), cfg)
        seconds = time.perf_counter() - started
        shown = []
        for column in ["normal", "lognormal", "exponential", "cat_0", "cat_1"]:
            entry = found[column]
            shown.append(f"{entry['verdict']} ({entry['effect']:.3f})")
            if column in LARGE and entry["verdict"] != "drift":
                ok = False
            if column in SMALL and n >= 100_000 and entry["verdict"] == "none":
                ok = False
        flagged = [c for c, e in found.items() if c not in LARGE | SMALL and e["verdict"] != "none"]
        ok = ok and not flagged
        print(f"| {n:,} | " + " | ".join(shown) + f" | {len(flagged)} {flagged if flagged else ''} | {seconds:.1f} |")
    print(f"\ndetection: {'PASS' if ok else 'FAIL'} (large shifts drift at every N, small ones at least minor "
          f"from 100,000, no undrifted column flagged; effect sizes in brackets)\n")
    return ok


def _what(column: str) -> str:
    return f"+{SHIFTS[column]} sd" if column in SHIFTS else f"{MOVES[column]:.0%} moved"


def false_alarms(sizes: list[int], seeds: int, cfg: DriftConfig) -> bool:
    print(f"## False alarms over {seeds} seeds of undrifted data\n")
    print("| N | columns x seeds | flagged `drift` | rate | worst column | p < 0.05 alone (baseline) | seconds |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    ok = True
    for n in sizes:
        started = time.perf_counter()
        flagged, naive, per_column = 0, 0, {}
        for seed in range(seeds):
            found = verdicts(table(n, 1000 + 2 * seed, False), table(n, 1001 + 2 * seed, False), cfg)
            for column, entry in found.items():
                hit = entry["verdict"] == "drift"
                flagged += hit
                per_column[column] = per_column.get(column, 0) + hit
                naive += entry["p_value"] < 0.05
        total = seeds * len(NUMERIC + CATEGORICAL)
        worst = max(per_column.values()) / seeds
        rate = flagged / total
        ok = ok and worst <= 0.05
        print(f"| {n:,} | {total:,} | {flagged} | {rate:.2%} | {worst:.1%} | {naive / total:.1%} | "
              f"{time.perf_counter() - started:.0f} |")
    print(f"\nfalse alarms: {'PASS' if ok else 'FAIL'} (per column at most 5 %)\n")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--alarm-sizes", default="1000,100000")
    args = parser.parse_args()
    cfg = DriftConfig()
    ok = detection([int(s) for s in args.sizes.split(",")], cfg)
    ok = false_alarms([int(s) for s in args.alarm_sizes.split(",")], args.seeds, cfg) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
