"""Start-up time: `mlw --help` (and `mlw --version`) against `python -c "import typer, rich"`.

Target: `mlw --help` median wall time within 1.5x of the baseline, measured in the same run.
Runs alternate (baseline, --help, --version, ...) so drift on a shared machine hits all alike.

    .venv/bin/python bench/bench_help.py [--reps 15]
"""

from __future__ import annotations

import argparse
import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
from _common import MLW, PYTHON, ROOT, machine, med, verdict, wall_only  # noqa: E402

TARGET = 1.5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=15)
    args = parser.parse_args()

    commands = {
        "baseline: python -c 'import typer, rich'": [PYTHON, "-c", "import typer, rich"],
        "mlw --help": [MLW, "--help"],
        "mlw --version": [MLW, "--version"],
    }
    print(f"machine: {machine()}")
    print(f"python:  {PYTHON}\nmlw:     {MLW}\nreps:    {args.reps} each, alternating, 1 warm-up each discarded\n")
    for cmd in commands.values():  # warm the page cache and .pyc files
        wall_only(cmd, cwd=ROOT)
    times: dict[str, list[float]] = {name: [] for name in commands}
    names = list(commands)
    for rep in range(args.reps):
        order = names if rep % 2 == 0 else names[::-1]
        for name in order:
            times[name].append(wall_only(commands[name], cwd=ROOT))

    base = med(times[names[0]])
    print(f"{'command':<42} {'median ms':>10} {'min ms':>8} {'ratio':>7}")
    for name in names:
        print(f"{name:<42} {med(times[name]) * 1000:>10.1f} {min(times[name]) * 1000:>8.1f} "
              f"{med(times[name]) / base:>6.2f}x")
    ratio = med(times["mlw --help"]) / base
    version_ratio = med(times["mlw --version"]) / base
    print(f"\nmlw --help / baseline    = {ratio:.2f}x (target <= {TARGET}x): {verdict(ratio, TARGET)}")
    print(f"mlw --version / baseline = {version_ratio:.2f}x (reported, same target): {verdict(version_ratio, TARGET)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
