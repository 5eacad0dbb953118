"""Serving, `mlw predict` or `mlw ingest` side by side with an earlier commit, in the same minutes.

Runs the work alternately against the package of an earlier commit (checked out as a git
worktree, byte-compiled, first on PYTHONPATH) and against this tree, so that the shared
machine's drift hits both sides, and prints each figure's median per side and the ratio
after / before. `--bench serve` (default) runs bench_serve.py (this tree's script); `--bench
ingest` times `mlw ingest --force` of bench_ingest_prepare.py's 1,000,000-row CSV, read whole
(the default) and streamed in 16 MB blocks; `--bench help` times `mlw --help` and `mlw --version`
(the median of 11 starts per run).

    .venv/bin/python bench/bench_before_after.py 81b61ab --runs 2
    .venv/bin/python bench/bench_before_after.py HEAD~1 --bench ingest --runs 5

The earlier commit must keep the console entry `mlflow_cli.cli:app` and the artifact layout
(both hold since the first session); its dependencies are this virtual environment's.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH, MLW, OUT, PYTHON, ROOT, machine, measure, wait_quiet  # noqa: E402

# What bench_serve.py prints, one pattern per figure (the first group is the number).
FIGURES = {
    "single row p50 (ms)": r"single row, sequential \(\d+\): p50 ([\d.]+) ms",
    "single row p99 (ms)": r"p99 ([\d.]+) ms",
    "8 clients (requests/s)": r"concurrent clients .*?: (\d+) requests/s",
    "10,000 rows JSON columns+data (ms)": r"10,000 rows, JSON columns\+data .*?: ([\d.]+) ms",
    "10,000 rows CSV (ms)": r"10,000 rows, CSV .*?: ([\d.]+) ms",
    "10,000 rows JSON records (ms)": r"10,000 rows, JSON records .*?: ([\d.]+) ms",
    "mlw predict 100,000 rows (s)": r"whole command: median ([\d.]+) s",
    "in-process floor, 10,000 rows (ms)": r"10,000 rows ([\d.]+) ms",
}


def worktree(rev: str, folder: Path) -> Path:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(folder), rev],
                   check=True, capture_output=True)
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(folder / "mlflow_cli")], check=True)
    return folder


INGEST_ROWS = 1_000_000
INGEST = {"ingest, whole file (s)": 1024, "ingest, streamed in 16 MB blocks (s)": 0}  # ingest.stream_above_mb


def ingest_configs() -> dict[str, Path]:
    """One config per way of reading the CSV (made once, like bench_ingest_prepare.py's)."""
    from bench_ingest_prepare import make_csv

    folder = OUT / "before_after"
    folder.mkdir(parents=True, exist_ok=True)
    csv = OUT / f"bench_{INGEST_ROWS}.csv"
    if not csv.exists():
        make_csv(csv, INGEST_ROWS)
    configs = {}
    for i, (name, stream_above) in enumerate(INGEST.items()):
        configs[name] = folder / f"ingest{i}.yaml"
        configs[name].write_text(f"project: before_after\nartifacts: {folder / 'artifacts'}\n"
                                 f"data: {{source: {{path: {csv}}}, target: target}}\n"
                                 f"ingest: {{stream_above_mb: {stream_above}}}\n")
    return configs


def ingest_run(tree: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return {name: measure([MLW, "ingest", "-c", str(config), "--force"], env=env)[0]
            for name, config in ingest_configs().items()}


def help_run(tree: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    figures = {}
    for flag in ("--help", "--version"):
        times = []
        for _ in range(11):
            started = time.perf_counter()
            subprocess.run([MLW, flag], env=env, check=True, stdout=subprocess.DEVNULL)
            times.append((time.perf_counter() - started) * 1000)
        figures[f"mlw {flag} (ms)"] = round(statistics.median(times), 1)
    return figures


def serve_run(tree: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    proc = subprocess.run([PYTHON, str(BENCH / "bench_serve.py")], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"bench_serve.py against {tree} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    figures = {}
    for name, pattern in FIGURES.items():
        match = re.search(pattern, proc.stdout)
        if match is None:
            raise SystemExit(f"no {name!r} in bench_serve.py's output:\n{proc.stdout}")
        figures[name] = float(match.group(1))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev", help="the earlier commit (before)")
    parser.add_argument("--runs", type=int, default=2, help="runs of each side, alternating (default 2)")
    parser.add_argument("--bench", choices=("serve", "ingest", "help"), default="serve",
                        help="what to time (default serve)")
    args = parser.parse_args()
    one_run = {"serve": serve_run, "ingest": ingest_run, "help": help_run}[args.bench]
    if args.bench == "ingest":
        ingest_configs()  # the CSV is made before any timing
    print(f"machine: {machine()}")
    # Both trees byte-compiled: under PYTHONDONTWRITEBYTECODE a stale .pyc is compiled again by every run.
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(ROOT / "mlflow_cli")], check=True)
    with tempfile.TemporaryDirectory(prefix="mlw-before-") as scratch:
        before_tree = worktree(args.rev, Path(scratch) / "tree")
        runs: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
        try:
            for i in range(args.runs):
                for side, tree in (("before", before_tree), ("after", ROOT))[:: 1 if i % 2 == 0 else -1]:
                    wait_quiet()
                    runs[side].append(one_run(tree))
                    print(f"run {i + 1}, {side}: " + ", ".join(f"{k} {v:g}" for k, v in runs[side][-1].items()),
                          flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(before_tree)],
                           capture_output=True)
    print(f"\n| figure | before {args.rev} (median of {args.runs}) | after (median) | after / before |")
    print("| --- | ---: | ---: | ---: |")
    for name in runs["after"][0]:
        before = statistics.median(r[name] for r in runs["before"])
        after = statistics.median(r[name] for r in runs["after"])
        print(f"| {name} | {before:g} | {after:g} | {after / before:.2f}x |")


if __name__ == "__main__":
    main()
