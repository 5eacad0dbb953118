"""Helpers shared by the benchmark scripts (not a test module; run the bench_*.py files by hand).

Timing is wall clock around a real child process; peak memory is the child's peak RSS as
reported by GNU time (`/usr/bin/time -f "%e %M"`) when it exists, else by
resource.getrusage(RUSAGE_CHILDREN) read in a fresh wrapper process per run.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = str(VENV_BIN / "python")
MLW = str(VENV_BIN / "mlw")
GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None

# Run in a fresh interpreter: report this child's wall time and peak RSS (KiB, Linux) on stderr's last line.
_RUSAGE_WRAPPER = (
    "import resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
    "wall = time.perf_counter() - t\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "sys.stderr.write(f'\\n{wall:.3f} {peak}\\n')\n"
    "sys.exit(rc)\n"
)


class RunFailed(RuntimeError):
    pass


def measure(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> tuple[float, int]:
    """Run cmd once; return (wall seconds, peak RSS in KiB). stdout is discarded."""
    wall, peak, _ = measure_cpu(cmd, cwd=cwd, env=env)
    return wall, peak


def measure_cpu(cmd: list[str], cwd: Path | None = None,
                env: dict[str, str] | None = None) -> tuple[float, int, float | None]:
    """Like measure, plus the child's user + system CPU seconds (GNU time %U + %S; None without it).

    On a shared machine CPU time is a second signal next to wall time: a neighbour's load
    stretches wall time much more than the work's own CPU time."""
    if not GNU_TIME:
        proc = subprocess.run([sys.executable, "-c", _RUSAGE_WRAPPER, *cmd], cwd=cwd, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            raise RunFailed(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
        wall_s, peak = proc.stderr.strip().splitlines()[-1].split()
        return float(wall_s), int(peak), None
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        started = time.perf_counter()
        proc = subprocess.run([GNU_TIME, "-f", "%e %M %U %S", "-o", report.name, *cmd], cwd=cwd, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall = time.perf_counter() - started
        lines = [ln for ln in Path(report.name).read_text().splitlines() if ln.strip()]
    if proc.returncode != 0:
        raise RunFailed(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    _, peak_kib, user, system = lines[-1].split()
    return wall, int(peak_kib), float(user) + float(system)


def _cpu_ticks() -> tuple[int, int]:
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields[:8]), idle


def busy_cpu_seconds() -> float:
    """CPU seconds all processes on the machine have used so far (from /proc/stat; nan if unreadable).

    Read it around a run: the difference minus the run's own CPU time is what neighbours used meanwhile."""
    try:
        total, idle = _cpu_ticks()
    except (OSError, ValueError, IndexError):
        return float("nan")
    return (total - idle) / os.sysconf("SC_CLK_TCK")


def busy_share(sample_s: float = 1.0) -> float:
    """Share of all CPUs busy over sample_s (0..1; nan where /proc/stat is unreadable)."""
    try:
        total0, idle0 = _cpu_ticks()
        time.sleep(sample_s)
        total1, idle1 = _cpu_ticks()
    except (OSError, ValueError, IndexError):
        return float("nan")
    return 1.0 - (idle1 - idle0) / max(total1 - total0, 1)


def wait_quiet(max_busy: float = 0.15, max_wait_s: float = 120.0, sample_s: float = 1.0) -> tuple[float, float]:
    """Wait (up to max_wait_s) until the shared machine's other work leaves the CPUs idle.

    Call between runs, when this benchmark itself runs nothing. Returns (seconds waited,
    the last busy share): a busy share above max_busy means the next run starts on a busy machine."""
    started = time.perf_counter()
    while True:
        busy = busy_share(sample_s)
        if busy != busy or busy <= max_busy or time.perf_counter() - started >= max_wait_s:
            return time.perf_counter() - started, busy


def wall_only(cmd: list[str], cwd: Path | None = None) -> float:
    """Wall time of one run (no wrapper process in between, for short commands)."""
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RunFailed(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr.decode()[-3000:]}")
    return wall


def med(values: list[float]) -> float:
    return statistics.median(values)


def verdict(ratio: float, limit: float) -> str:
    return "PASS" if ratio <= limit else "FAIL"


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({model}), {mem} RAM, Python {sys.version.split()[0]}"


def ensure_out() -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    return OUT


def clean_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def mlw_json(folder: Path, *args: str) -> dict:
    """`mlw ARGS -c mlw.yaml --json` in `folder`: its JSON result, or exit with its stderr."""
    import json

    done = subprocess.run([MLW, *args, "-c", "mlw.yaml", "--json"], cwd=folder, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"mlw {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)
