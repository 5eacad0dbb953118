"""`mlw retrain` overhead (issue 12): the whole command against running the same prepare, train
and evaluate by hand (three `mlw` commands with the same window), measured in the same run,
alternating. Both sides start from the same ingest version and recompute (`--force`); retrain
runs with `--no-promote`, so every run judges the same champion.

Cases:
- loop: the shipped loop's data (configs/churn_loop.yaml): the first model on weeks 1-2
  promoted, then week 5 appended; the challenger learns from the newest 600 rows.
- 1m: a 1,000,000-row table (12 numeric and 3 categorical columns, a logistic label), XGBoost
  (100 trees); the champion trained on it, the challenger on the last 800,000 rows.

Target: retrain / by hand <= 1.15.

    .venv/bin/python bench/bench_retrain.py [--cases loop,1m] [--runs 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import MLW, ROOT, ensure_out, machine, med, mlw_json, wall_only  # noqa: E402

LIMIT = 1.15


def setup_loop(out: Path) -> tuple[Path, str]:
    folder = out / "loop"
    config = folder / "mlw.yaml"
    if not config.exists():
        folder.mkdir(parents=True, exist_ok=True)
        weeks = pd.read_csv(ROOT / "data" / "churn_weeks.csv")
        weeks[weeks["week"] <= 2].to_csv(folder / "first.csv", index=False)
        weeks[weeks["week"] == 5].to_csv(folder / "week5.csv", index=False)
        data = yaml.safe_load((ROOT / "configs" / "churn_loop.yaml").read_text())
        data["artifacts"] = "artifacts"
        data["data"]["source"]["path"] = "first.csv"
        config.write_text(yaml.safe_dump(data, sort_keys=False))
        mlw_json(folder, "run")
        mlw_json(folder, "models", "promote", "latest")
        mlw_json(folder, "ingest", "--append", "--set", "data.source.path=week5.csv")
    return folder, "600"


def setup_1m(out: Path) -> tuple[Path, str]:
    folder = out / "1m"
    config = folder / "mlw.yaml"
    if not config.exists():
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(0)
        n = 1_000_000
        frame = pd.DataFrame({f"x{i}": rng.normal(0, 1, n) for i in range(12)})
        for i in range(3):
            frame[f"c{i}"] = np.array(list("abcdefgh"))[rng.integers(0, 8, n)]
        logit = frame["x0"] - 0.5 * frame["x1"] + 0.8 * (frame["c0"] == "a") + 0.3 * frame["x2"] * frame["x3"]
        frame["label"] = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
        frame.to_parquet(folder / "table.parquet", index=False)
        config.write_text(yaml.safe_dump({
            "project": "retrain1m", "artifacts": "artifacts",
            "data": {"source": {"path": "table.parquet"}, "target": "label"},
            "prepare": {"split": {"test_size": 0.2, "seed": 0}},
            "train": {"task": "classification", "model": "xgboost",
                      "params": {"n_estimators": 100, "max_depth": 6}, "early_stopping_rounds": None},
        }, sort_keys=False))
        mlw_json(folder, "run")
        mlw_json(folder, "models", "promote", "latest")
    return folder, "800000"


def by_hand(folder: Path, window: str) -> float:
    window_set = ["--set", f"prepare.window={window}"]
    total = 0.0
    for stage in ("prepare", "train", "evaluate"):
        total += wall_only([MLW, stage, "-c", "mlw.yaml", "--force", *window_set], cwd=folder)
    return total


def retrain(folder: Path, window: str) -> float:
    """One run; exit 1 (the challenger judged not better) is an outcome, not a failure."""
    import time

    started = time.perf_counter()
    done = subprocess.run([MLW, "retrain", "-c", "mlw.yaml", "--force", "--no-promote", "--set",
                           f"retrain.window={window}"], cwd=folder, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"mlw retrain exited {done.returncode}:\n{done.stderr[-3000:]}")
    return wall


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", default="loop,1m")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    out = ensure_out() / "retrain"
    print(machine())
    print("\n| case | mlw retrain (s) | prepare + train + evaluate by hand (s) | ratio | target | verdict |")
    print("| --- | --- | --- | ---: | --- | --- |")
    ok = True
    for case in args.cases.split(","):
        folder, window = {"loop": setup_loop, "1m": setup_1m}[case](out)
        ours, theirs = [], []
        for _ in range(args.runs):
            theirs.append(by_hand(folder, window))
            ours.append(retrain(folder, window))
        ratio = med(ours) / med(theirs)
        ok = ok and ratio <= LIMIT
        print(f"| {case} | {', '.join(f'{v:.2f}' for v in ours)} | {', '.join(f'{v:.2f}' for v in theirs)} | "
              f"{ratio:.2f}x | <= {LIMIT}x | {'PASS' if ratio <= LIMIT else 'FAIL'} |", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
