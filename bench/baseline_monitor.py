"""The hand-written baseline for bench_monitor_speed.py: read the reference rows and the current
rows, then scipy's two-sample KS test on every numeric column and the chi-square test of the
contingency table on every categorical one. No model, no report: the floor a drift check costs.

    python bench/baseline_monitor.py REFERENCE.parquet CURRENT.parquet
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
from scipy import stats


def main(reference_path: str, current_path: str) -> None:
    reference, current = pd.read_parquet(reference_path), pd.read_parquet(current_path)
    results = {}
    for column in current.columns:
        if column not in reference.columns or column == "label":
            continue
        ref, now = reference[column], current[column]
        if pd.api.types.is_numeric_dtype(ref):
            results[column] = stats.ks_2samp(ref.dropna().to_numpy(), now.dropna().to_numpy()).pvalue
        else:
            counts = pd.concat([ref.value_counts(), now.value_counts()], axis=1).fillna(0).to_numpy().T
            results[column] = stats.chi2_contingency(counts, correction=False)[1]
    drifted = sum(p < 0.05 / len(results) for p in results.values())
    print(f"{drifted} of {len(results)} columns drift", np.round(min(results.values()), 6))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
