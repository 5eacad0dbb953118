"""The Dask engine's overhead: the same `mlw run` (ingest, prepare, XGBoost with 100 trees,
evaluate) with `engine: dask` (a local cluster of 2 workers x 1 thread) against `engine: local`,
on a 2,000,000-row x 20-column CSV, in the same run. On a 2-core machine a cluster cannot be
faster than one process; the figures are the overhead.

Targets (dask / local, same run): wall time <= 1.4x, peak memory of all processes <= 1.3x.
Peak memory is the largest sum of the resident memory of mlw and every process it started
(the workers, their nannies), sampled every 0.1 s. Each run starts from an empty artifact store.

    .venv/bin/python bench/bench_dask.py [--rows 2000000] [--reps 1]

The CSV is bench_ingest_prepare.py's generator (9 float, 5 int, 5 categorical columns, a binary
target), cached in bench/out/.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import MLW, clean_dir, ensure_out, machine, med, verdict  # noqa: E402
from bench_ingest_prepare import TARGET, make_csv  # noqa: E402

WALL_TARGET = 1.4
MEMORY_TARGET = 1.3


def config(folder: Path, data: Path, engine: dict) -> Path:
    import yaml

    path = folder / "mlw.yaml"
    path.write_text(yaml.safe_dump({
        "project": "bench", "artifacts": str(folder / "artifacts"),
        "data": {"source": {"path": str(data)}, "target": TARGET},
        "prepare": {"split": {"test_size": 0.2, "seed": 42}},
        "train": {"model": "xgboost", "params": {"n_estimators": 100}},
        "engine": engine,
    }, sort_keys=False))
    return path


def run(cfg: Path) -> tuple[float, float, dict]:
    """(wall seconds, peak MiB of the process tree, each stage's seconds) of one `mlw run`."""
    import psutil

    started = time.perf_counter()
    proc = subprocess.Popen([MLW, "run", "-c", str(cfg), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        root = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
                total = 0
                for p in tree:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
                peak[0] = max(peak[0], total)
            except psutil.Error:
                pass
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    if proc.returncode not in (0, 1):  # 1: a gate; the benchmark sets none
        raise SystemExit(f"mlw run exited {proc.returncode}:\n{err[-3000:]}")
    stages = {}
    for step in json.loads(out)["steps"]:
        manifest = cfg.parent / "artifacts" / "bench" / step["stage"] / step["version"] / "manifest.json"
        stages[step["stage"]] = json.loads(manifest.read_text()).get("duration_s")
    return wall, peak[0] / 2**20, stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--reps", type=int, default=1)
    args = parser.parse_args()
    out = ensure_out()
    data = out / f"dask_{args.rows}.csv"
    if not data.exists():
        make_csv(data, args.rows)
    engines = {"local": {"type": "local"},
               "dask": {"type": "dask", "n_workers": 2, "threads_per_worker": 1}}
    results: dict[str, list[tuple[float, float, dict]]] = {name: [] for name in engines}
    print(f"# bench_dask: {args.rows:,} rows x 20 columns ({data.stat().st_size / 2**20:.0f} MiB CSV), "
          f"XGBoost 100 trees; {machine()}")
    for rep in range(args.reps):
        for name in (engines if rep % 2 == 0 else reversed(list(engines))):
            folder = out / f"dask_run_{name}"
            clean_dir(folder)
            results[name].append(run(config(folder, data, engines[name])))
            wall, peak, stages = results[name][-1]
            print(f"{name:6} rep {rep + 1}: {wall:7.1f} s, peak {peak:7.0f} MiB, stages "
                  + ", ".join(f"{k} {v:.1f} s" for k, v in stages.items() if v is not None))
    wall = {n: med([r[0] for r in rs]) for n, rs in results.items()}
    peak = {n: med([r[1] for r in rs]) for n, rs in results.items()}
    train = {n: med([r[2].get("train") or float("nan") for r in rs]) for n, rs in results.items()}
    ratio_wall, ratio_peak = wall["dask"] / wall["local"], peak["dask"] / peak["local"]
    print(f"wall   dask {wall['dask']:.1f} s / local {wall['local']:.1f} s = {ratio_wall:.2f}x "
          f"(target <= {WALL_TARGET}x) {verdict(ratio_wall, WALL_TARGET)}")
    print(f"memory dask {peak['dask']:.0f} MiB / local {peak['local']:.0f} MiB = {ratio_peak:.2f}x "
          f"(target <= {MEMORY_TARGET}x) {verdict(ratio_peak, MEMORY_TARGET)}")
    print(f"train stage alone: dask {train['dask']:.1f} s / local {train['local']:.1f} s = "
          f"{train['dask'] / train['local']:.2f}x")


if __name__ == "__main__":
    main()
