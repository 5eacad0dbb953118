"""`mlw monitor --log` on a 1 GB prediction log in bounded memory (issue 11).

The log is written by the prediction log's own writer (serve/predlog.py: `PredictionLog`, the
lines `mlw serve` writes, rotated at 64 MB) from the rows of the speed benchmark's current data
(bench_monitor_speed.py, N = 100,000: 20 input columns), in requests of 100 rows, spread over ten
days, with a class and probabilities per row (from a fixed logistic formula: what the model says
does not matter to the reader). Two logs, about 100 MB and about 1 GB, each in a copy of the
benchmark's trained project; `mlw monitor --log` runs on each (the peak resident memory of
the whole process tree, sampled every 20 ms).

Target: bounded memory: the peak on the 1 GB log is about the peak on the 100 MB log (the reader
holds one chunk of CHUNK_LINES lines at a time, the folded columns are summaries past RAW_LIMIT),
not ten times the growth.

    .venv/bin/python bench/bench_monitor_log.py [--sizes-mb 100,1024] [--runs 1]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import MLW, ensure_out, machine, med  # noqa: E402
from bench_monitor_speed import measure, setup  # noqa: E402

REQUEST_ROWS = 100


class _Records:
    """What the log writer reads of a request's rows (serve/requests.Rows.records)."""

    def __init__(self, records: list[dict]) -> None:
        self._records = records

    def records(self) -> list[dict]:
        return self._records


def write_log(folder: Path, rows: pd.DataFrame, megabytes: int, version: str) -> tuple[int, int]:
    """A log of about `megabytes` in `folder`, written by PredictionLog: (lines, bytes)."""
    from mlflow_cli.serve.predlog import LogEntry, PredictionLog

    records = rows.drop(columns=["label"], errors="ignore").to_dict(orient="records")
    logit = 0.8 * rows["normal"] - 0.3 * rows["exponential"] + (rows["cat_0"] == "a") - 0.5
    p_yes = (1 / (1 + np.exp(-logit.to_numpy()))).round(4)
    log = PredictionLog(folder, max_mb=64)
    log.start()
    start, written, lines = datetime(2026, 11, 20, tzinfo=timezone.utc), 0, 0
    target = megabytes << 20
    request = 0
    while written < target:
        at = (request * REQUEST_ROWS) % (len(records) - REQUEST_ROWS)
        proba = np.column_stack([1 - p_yes[at:at + REQUEST_ROWS], p_yes[at:at + REQUEST_ROWS]])
        ts = (start + timedelta(seconds=request * 0.5)).isoformat()
        log.submit(LogEntry(ts, f"req-{request:08d}", version, "production", "/predict", 1.5,
                            _Records(records[at:at + REQUEST_ROWS]),
                            ["yes" if p > 0.5 else "no" for p in p_yes[at:at + REQUEST_ROWS]], proba, ["no", "yes"]))
        request += 1
        lines += REQUEST_ROWS
        if request % 500 == 0:
            log.close()
            written = sum(p.stat().st_size for p in folder.glob("*.jsonl"))
            log = PredictionLog(folder, max_mb=64)
            log.start()
    log.close()
    return lines, sum(p.stat().st_size for p in folder.glob("*.jsonl"))


def project_with_log(out: Path, source: Path, megabytes: int) -> tuple[Path, int, int]:
    folder = out / f"log{megabytes}mb"
    predictions = folder / "artifacts" / "bench" / "predictions"
    if not predictions.exists():
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(source, folder, ignore=shutil.ignore_patterns("monitor", "current*.parquet"))
        started = time.perf_counter()
        version = sorted(p.name for p in (source / "artifacts" / "bench" / "train").iterdir())[-1]
        lines, size = write_log(predictions, pd.read_parquet(source / "current.parquet"), megabytes, version)
        print(f"  wrote {lines:,} lines, {size / 2**20:.0f} MB in {time.perf_counter() - started:.0f} s",
              file=sys.stderr)
    files = list(predictions.glob("*.jsonl"))
    lines = sum(sum(1 for _ in open(p, "rb")) for p in files)
    return folder, lines, sum(p.stat().st_size for p in files)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes-mb", default="100,1024")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    out = ensure_out() / "monitor"
    config, _, _, _ = setup(out, 100_000)
    print(machine())
    print("\n| log | lines | mlw monitor --log (s) | peak RSS (MB) | lines per second |")
    print("| ---: | ---: | --- | ---: | ---: |")
    peaks = []
    for megabytes in [int(s) for s in args.sizes_mb.split(",")]:
        folder, lines, size = project_with_log(out, config.parent, megabytes)
        walls, peak = [], 0
        for _ in range(args.runs):
            wall, used = measure([MLW, "monitor", "-c", "mlw.yaml", "--model", "latest", "--force", "--log"],
                                 cwd=folder)
            walls.append(wall)
            peak = max(peak, used)
        peaks.append((size, peak))
        print(f"| {size / 2**20:,.0f} MB | {lines:,} | {', '.join(f'{w:.1f}' for w in walls)} | {peak / 1024:.0f} | "
              f"{lines / med(walls):,.0f} |")
    (small, small_peak), (large, large_peak) = peaks[0], peaks[-1]
    growth = (large_peak - small_peak) / 1024
    bounded = growth <= 0.1 * (large - small) / 2**20
    print(f"\npeak grew {growth:.0f} MB while the log grew {(large - small) / 2**20:,.0f} MB: "
          f"{'PASS' if bounded else 'FAIL'} (bounded: under a tenth of the log's growth)")
    return 0 if bounded else 1


if __name__ == "__main__":
    raise SystemExit(main())
