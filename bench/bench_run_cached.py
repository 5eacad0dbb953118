"""Fully cached chain: `mlw run` when ingest, prepare, train and evaluate all reuse cached versions.

Target: the cached `mlw run` at most 0.3 s wall (median) on this machine. For context, the same run
also times `python -c "import typer, rich"` (the start-up floor of any typer + rich CLI) and
`mlw --version`, and prints the ratios. It also checks, with `python -X importtime`, that the
cached run imports no pandas, scikit-learn, XGBoost or pyarrow (planning needs only config,
manifests and file hashes).

    .venv/bin/python bench/bench_run_cached.py [--reps 15]

Setup: configs/churn.yaml with `--set artifacts=bench/out/run_cached_artifacts` (git-ignored) and
`--set train.model=logistic_regression` (a fast one-time fit); one `mlw run` populates the store.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (MLW, OUT, PYTHON, ROOT, RunFailed, busy_cpu_seconds, ensure_out, machine, med,  # noqa: E402
                     verdict, wait_quiet)

TARGET_S = 0.3
HEAVY = ("pandas", "sklearn", "xgboost", "pyarrow")
ALSO_WATCHED = ("numpy", "scipy", "joblib", "pydantic", "yaml")


def timed(cmd: list[str], expect_rc: int = 0) -> tuple[float, float]:
    """Wall and CPU (user + sys) seconds of one run, like _common.wall_only; a known exit code
    (a failed gate exits 1) is fine. CPU time is the noise-robust companion on a shared machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != expect_rc:
        raise RunFailed(f"{' '.join(cmd)} exited {proc.returncode} (expected {expect_rc}):\n"
                        f"{proc.stderr.decode()[-3000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def imported_top_level(stderr: str) -> dict[str, int]:
    """Top-level packages in `-X importtime` output, each with the self time of all its modules summed (us)."""
    found: dict[str, int] = {}
    for line in stderr.splitlines():
        match = re.match(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|\s*(\S+)", line)
        if match:
            top = match.group(3).split(".")[0]
            found[top] = found.get(top, 0) + int(match.group(1))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--quiet-wait", type=float, default=120.0, metavar="S",
                        help="Before timing, wait up to S seconds for the shared machine's other work to leave the "
                             "CPUs idle (<= 15%% busy); 0 to start at once (default 120).")
    args = parser.parse_args()

    ensure_out()
    artifacts = OUT / "run_cached_artifacts"
    config = ROOT / "configs" / "churn.yaml"
    overrides = ["--set", f"artifacts={artifacts}", "--set", "train.model=logistic_regression"]
    run_cmd = [MLW, "run", "-c", str(config), *overrides]

    # Populate (or confirm) the cache; a gate that fails makes `mlw run` exit 1 even when cached.
    started = time.perf_counter()
    first = subprocess.run(run_cmd + ["--json"], cwd=ROOT, capture_output=True, text=True)
    populate_s = time.perf_counter() - started
    if first.returncode not in (0, 1):
        print(f"SETUP FAILED: mlw run exited {first.returncode}:\n{first.stderr[-3000:]}", file=sys.stderr)
        return 2
    check = subprocess.run(run_cmd + ["--json"], cwd=ROOT, capture_output=True, text=True)
    try:
        steps = json.loads(check.stdout)["steps"]
    except (ValueError, KeyError):
        print(f"SETUP FAILED: no JSON from mlw run --json (exit {check.returncode}):\n{check.stderr[-3000:]}",
              file=sys.stderr)
        return 2
    expect_rc = check.returncode
    actions = {s["stage"]: s["action"] for s in steps}
    print(f"machine: {machine()}")
    print(f"command: {' '.join(run_cmd)}  (cwd {ROOT})")
    print(f"setup:   first mlw run {populate_s:.1f}s; second run: "
          + ", ".join(f"{stage} {action}" for stage, action in actions.items())
          + f"; exit code {expect_rc}{' (a gate fails; the timed runs expect the same)' if expect_rc else ''}")
    if any(action != "cached" for action in actions.values()):
        print("FAILED: the second run did not reuse every stage; nothing cached to time.", file=sys.stderr)
        return 2

    # Which modules the cached run imports.
    probe = subprocess.run([PYTHON, "-X", "importtime", "-m", "mlflow_cli", "run", "-c", str(config), *overrides],
                           cwd=ROOT, capture_output=True, text=True)
    if probe.returncode != expect_rc:
        print(f"FAILED: python -m mlflow_cli run exited {probe.returncode}:\n{probe.stderr[-3000:]}", file=sys.stderr)
        return 2
    tops = imported_top_level(probe.stderr)
    heavy = [name for name in HEAVY if name in tops]
    print(f"imports: python -X importtime -m mlflow_cli run ...: {len(tops)} top-level packages; "
          f"heavy ({', '.join(HEAVY)}): {', '.join(heavy) if heavy else 'none'} -> "
          f"{'FAIL' if heavy else 'PASS'}")
    watched = [f"{name} ({tops[name] / 1000:.0f} ms)" for name in ALSO_WATCHED if name in tops]
    print(f"         also imported: {', '.join(watched) if watched else 'none of ' + ', '.join(ALSO_WATCHED)}")
    slowest = sorted(tops.items(), key=lambda kv: kv[1], reverse=True)[:8]
    print(f"         import time, self ms summed per package (total {sum(tops.values()) / 1000:.0f} ms): "
          + ", ".join(f"{name} {us / 1000:.0f}" for name, us in slowest))

    commands = {
        "baseline: python -c 'import typer, rich'": ([PYTHON, "-c", "import typer, rich"], 0),
        "mlw --version": ([MLW, "--version"], 0),
        "mlw run (all 4 stages cached)": (run_cmd, expect_rc),
    }
    names = list(commands)
    waited, busy = wait_quiet(max_wait_s=args.quiet_wait) if args.quiet_wait > 0 else (0.0, float("nan"))
    print(f"reps:    {args.reps} each, alternating, 1 warm-up each discarded; waited {waited:.0f}s for a quiet "
          f"machine ({busy:.0%} busy before timing)\n", flush=True)
    phase_started, busy_before = time.perf_counter(), busy_cpu_seconds()
    try:
        for cmd, rc in commands.values():
            timed(cmd, rc)
        times: dict[str, list[float]] = {name: [] for name in names}
        cpus: dict[str, list[float]] = {name: [] for name in names}
        for rep in range(args.reps):
            order = names if rep % 2 == 0 else names[::-1]
            for name in order:
                cmd, rc = commands[name]
                wall, cpu = timed(cmd, rc)
                times[name].append(wall)
                cpus[name].append(cpu)
    except RunFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 2
    phase_s = time.perf_counter() - phase_started
    busy_share = (busy_cpu_seconds() - busy_before) / phase_s / (os.cpu_count() or 1)

    base = med(times[names[0]])
    print(f"{'command':<42} {'median ms':>10} {'min ms':>8} {'ratio':>7} {'med cpu ms':>11}")
    for name in names:
        print(f"{name:<42} {med(times[name]) * 1000:>10.1f} {min(times[name]) * 1000:>8.1f} "
              f"{med(times[name]) / base:>6.2f}x {med(cpus[name]) * 1000:>11.1f}")
    run_med = med(times[names[2]])
    print(f"\ncached mlw run median = {run_med * 1000:.0f} ms (target <= {TARGET_S * 1000:.0f} ms): "
          f"{verdict(run_med, TARGET_S)}")
    print(f"cached mlw run cpu (user + sys) median = {med(cpus[names[2]]) * 1000:.0f} ms (reported; on a busy machine "
          f"it stays close to the quiet-machine wall time of a one-thread command)")
    print(f"cached mlw run / baseline = {run_med / base:.2f}x;  cached mlw run - mlw --version = "
          f"{(run_med - med(times[names[1]])) * 1000:.0f} ms (config: yaml + pydantic; planning: manifests, sha256; "
          f"rendering)")
    print(f"machine busy {busy_share:.0%} of {os.cpu_count()} CPUs over the {phase_s:.0f}s of timing (these "
          f"runs alone keep about one CPU busy; much more means neighbours ran too)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
