"""Speed and memory of the whole `mlw monitor` command (issue 11) against a scipy script computing KS
+ chi-square on the same raw data (baseline_monitor.py), measured in the same run, alternating.

Data: the detection benchmark's table (bench_monitor_detection.py: 15 numeric columns of several
distributions, 5 categorical of 10 levels, 5 of them drifted), plus a label; a reference of N
training rows (prepare keeps 80 % of 1.25 N for training) and a current file of N rows, Parquet.
The model is a small XGBoost (20 trees) so that training the reference takes seconds.

Targets: N = 100,000 within 2x the script and at most 1.5 s; N = 1,000,000 within 1.5x and at
most 6 s; peak memory at most 1.3x the current data's size in memory (pandas, deep) plus a
constant (the peak of the same command on 1,000 current rows). Memory is the resident total of the
whole process tree (mlw monitor loads the model in a second process), sampled every 20 ms.

    .venv/bin/python bench/bench_monitor_speed.py [--sizes 100000,1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import MLW, PYTHON, ensure_out, machine, med  # noqa: E402
from bench_monitor_detection import table  # noqa: E402

TARGETS = {100_000: (2.0, 1.5), 1_000_000: (1.5, 6.0)}


def setup(out: Path, n: int) -> tuple[Path, Path, Path, Path]:
    folder = out / f"n{n}"
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "mlw.yaml"
    current, small = folder / "current.parquet", folder / "current_1k.parquet"
    if not config.exists():
        rows = int(n * 1.25)
        reference = table(rows, 1, drifted=False)
        logit = 0.8 * reference["normal"] - 0.3 * reference["exponential"] + (reference["cat_0"] == "a") - 0.5
        reference["label"] = np.where(np.random.default_rng(3).random(rows) < 1 / (1 + np.exp(-logit)), "yes", "no")
        reference.to_parquet(folder / "reference.parquet", index=False)
        drifted = table(n, 2, drifted=True)
        drifted.to_parquet(current, index=False)
        drifted.iloc[:1000].to_parquet(small, index=False)
        config.write_text(yaml.safe_dump({
            "project": "bench", "data": {"source": {"path": "reference.parquet"}, "target": "label"},
            "prepare": {"split": {"test_size": 0.2, "seed": 0}},
            "train": {"task": "classification", "model": "xgboost", "params": {"n_estimators": 20, "max_depth": 4},
                      "early_stopping_rounds": None}}, sort_keys=False))
        for stage in ("ingest", "prepare", "train"):
            wall, _ = measure([MLW, stage, "-c", str(config)], cwd=folder)
            print(f"  setup N={n:,}: {stage} {wall:.1f} s", file=sys.stderr)
    train_rows = next((folder / "artifacts" / "bench" / "prepare").glob("*/train.parquet"))
    return config, current, small, train_rows


def _tree_rss(pid: int) -> int:
    """KiB resident in a process and all its descendants (mlw monitor scores in a child process)."""
    total, pending = 0, [pid]
    while pending:
        at = pending.pop()
        try:
            status = Path(f"/proc/{at}/status").read_text()
            total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
            for task in Path(f"/proc/{at}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration, ValueError):
            continue
    return total


def measure(cmd: list[str], cwd: Path | None = None) -> tuple[float, int]:
    """(wall seconds, peak KiB of the whole process tree, sampled every 20 ms)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss(proc.pid))
        time.sleep(0.02)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr.read().decode()[-3000:]}")
    return wall, peak


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    out = ensure_out() / "monitor"
    print(machine())
    print("\n| N | mlw monitor (s) | scipy script (s) | ratio | target | peak RSS mlw / script (MB) | current in "
          "memory (MB) | (peak - constant) / size | verdict |")
    print("| ---: | --- | --- | ---: | --- | --- | ---: | ---: | --- |")
    ok = True
    for n in [int(s) for s in args.sizes.split(",")]:
        config, current, small, train_rows = setup(out, n)
        monitor = [MLW, "monitor", "-c", str(config), "--model", "latest", "--force", "--input"]
        _, constant = measure(monitor + [str(small)], cwd=config.parent)
        ours, theirs, peaks, base_peaks = [], [], [], []
        for _ in range(args.runs):
            wall, peak = measure(monitor + [str(current)], cwd=config.parent)
            ours.append(wall)
            peaks.append(peak)
            wall, peak = measure([PYTHON, str(Path(__file__).parent / "baseline_monitor.py"), str(train_rows),
                                  str(current)])
            theirs.append(wall)
            base_peaks.append(peak)
        size = pd.read_parquet(current).memory_usage(deep=True).sum() / 2**20
        ratio = med(ours) / med(theirs)
        limit, seconds = TARGETS.get(n, (2.0, float("inf")))
        grown = (max(peaks) - constant) / 1024 / size
        passed = ratio <= limit and med(ours) <= seconds and grown <= 1.3
        ok = ok and passed
        print(f"| {n:,} | {', '.join(f'{v:.2f}' for v in ours)} | {', '.join(f'{v:.2f}' for v in theirs)} | "
              f"{ratio:.2f}x | <= {limit}x and <= {seconds} s | {max(peaks) / 1024:.0f} / {max(base_peaks) / 1024:.0f} | "
              f"{size:.0f} | {grown:.2f} (constant {constant / 1024:.0f} MB) | {'PASS' if passed else 'FAIL'} |")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
