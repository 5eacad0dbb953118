"""Serving and `mlw predict` side by side with an earlier commit, in the same minutes.

Runs bench_serve.py (this tree's script) alternately against the package of an earlier commit
(checked out as a git worktree, byte-compiled, first on PYTHONPATH) and against this tree, so
that the shared machine's drift hits both sides, and prints each figure's median per side and
the ratio after / before.

    .venv/bin/python bench/bench_before_after.py 81b61ab --runs 2

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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH, PYTHON, ROOT, machine, wait_quiet  # noqa: E402

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


def one_run(tree: Path) -> dict[str, float]:
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
    args = parser.parse_args()
    print(f"machine: {machine()}")
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
    for name in FIGURES:
        before = statistics.median(r[name] for r in runs["before"])
        after = statistics.median(r[name] for r in runs["after"])
        print(f"| {name} | {before:g} | {after:g} | {after / before:.2f}x |")


if __name__ == "__main__":
    main()
