"""Serving: `mlw serve` (one worker) and `mlw predict`, against the in-process floor measured
in the same run. Model: XGBoost classifier, 100 trees of depth 6, on 20 numeric features.

Targets (issue 4): single-row sequential p50 <= 2 ms and p99 <= 5 ms; 8 concurrent clients
>= 500 requests/s; one request of 10,000 rows <= 30 ms; `mlw predict` on a 100,000-row CSV
<= 1.5 s for the whole command. The floor is the in-process `predict_proba` on the same rows.

    .venv/bin/python bench/bench_serve.py

Sequential latency uses a keep-alive http.client connection (a lean client: what it costs is
part of the number); concurrency uses `wrk` (Debian's package) when installed, else 8 Python
threads, reported as such.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import MLW, OUT, machine, measure  # noqa: E402

ROWS, FEATURES, SEED = 20_000, 20, 7
SEQUENTIAL, CONCURRENT_S, CLIENTS, BIG_REPS = 1000, 10, 8, 9


def setup(folder: Path) -> Path:
    import numpy as np
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    x = rng.normal(size=(ROWS, FEATURES))
    y = (x[:, :5].sum(axis=1) + rng.normal(scale=1.0, size=ROWS) > 0).astype(int)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(FEATURES)]).assign(label=np.where(y, "yes", "no"))
    frame.to_csv(folder / "train.csv", index=False)
    big = pd.DataFrame(rng.normal(size=(100_000, FEATURES)), columns=[f"f{i}" for i in range(FEATURES)])
    big.to_csv(folder / "score_100k.csv", index=False)
    config = folder / "mlw.yaml"
    config.write_text(
        "project: serve_bench\n"
        "data: {source: {path: train.csv}, target: label}\n"
        "train: {model: xgboost, params: {n_estimators: 100, max_depth: 6}}\n")
    for args in (["run", "-c", str(config), "--until", "train", "--force"],
                 ["models", "promote", "latest", "-c", str(config)]):
        subprocess.run([MLW, *args], check=True, capture_output=True)
    return config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def floor(folder: Path, record: dict, rows10k: list[dict]) -> dict[str, float]:
    """In-process predict_proba on one row and on 10,000 rows (the model alone)."""
    import joblib
    import pandas as pd

    try:
        from mlflow_cli.models.scoring.pipeline import single_threaded
    except ImportError:  # a tree from before the package layout (bench_before_after.py)
        from mlflow_cli.scoring import single_threaded

    model_file = sorted((folder / "artifacts" / "serve_bench" / "train").glob("2*/model.joblib"))[-1]
    model = single_threaded(joblib.load(model_file))  # as the server scores: one thread per request
    one = pd.DataFrame([record])
    many = pd.DataFrame(rows10k)
    for _ in range(20):
        model.predict_proba(one)
    times = []
    for _ in range(300):
        t = time.perf_counter()
        model.predict_proba(one)
        times.append(time.perf_counter() - t)
    t = time.perf_counter()
    for _ in range(5):
        model.predict_proba(many)
    return {"one_p50_ms": statistics.median(times) * 1000, "many_ms": (time.perf_counter() - t) / 5 * 1000}


def sequential(port: int, body: bytes, n: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "application/json"}
    times = []
    for i in range(n + 50):
        t = time.perf_counter()
        conn.request("POST", "/predict", body, headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}")
        if i >= 50:
            times.append(time.perf_counter() - t)
    conn.close()
    return times


def concurrent_wrk(port: int, body: bytes) -> float | None:
    if not shutil.which("wrk"):
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                     f"wrk.body = {json.dumps(body.decode())}\n")
    out = subprocess.run(["wrk", "-t", "2", "-c", str(CLIENTS), "-d", f"{CONCURRENT_S}s", "-s", script.name,
                          f"http://127.0.0.1:{port}/predict"], capture_output=True, text=True, check=True).stdout
    os.unlink(script.name)
    rate = next(line for line in out.splitlines() if line.startswith("Requests/sec"))
    errors = [line for line in out.splitlines() if "Non-2xx" in line or "Socket errors" in line]
    if errors:
        print("  wrk:", "; ".join(errors))
    return float(rate.split()[1])


def concurrent_threads(port: int, body: bytes) -> float:
    done = [0] * CLIENTS
    stop = time.perf_counter() + CONCURRENT_S

    def client(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while time.perf_counter() < stop:
            conn.request("POST", "/predict", body, {"Content-Type": "application/json"})
            conn.getresponse().read()
            done[i] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / CONCURRENT_S


def one_big(port: int, body: bytes, content_type: str, reps: int = BIG_REPS) -> float:
    """Median of `reps` requests (after one warm-up), a pause between them so that the previous
    request's 10,000 prediction-log lines are written before the next one is timed."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times = []
    for _ in range(reps + 1):
        time.sleep(0.3)
        t = time.perf_counter()
        conn.request("POST", "/predict", body, {"Content-Type": content_type})
        response = conn.getresponse()
        response.read()
        assert response.status == 200, response.status
        times.append(time.perf_counter() - t)
    return statistics.median(times[1:]) * 1000


def big_bodies(frame: Any) -> dict[str, tuple[bytes, str]]:
    """The same 10,000 rows as a JSON list of records, as JSON {"columns", "data"} and as CSV."""
    return {
        "JSON records": (json.dumps(frame.to_dict(orient="records")).encode(), "application/json"),
        "JSON columns+data": (json.dumps({"columns": list(frame.columns), "data": frame.values.tolist()}).encode(),
                              "application/json"),
        "CSV": (frame.to_csv(index=False).encode(), "text/csv"),
    }


def main() -> None:
    import pandas as pd

    folder = OUT / "serve"
    config = setup(folder)
    print(f"machine: {machine()}")
    rows = pd.read_csv(folder / "score_100k.csv")
    record = rows.iloc[0].to_dict()
    rows10k = rows.head(10_000).to_dict(orient="records")
    base = floor(folder, record, rows10k)
    port = free_port()
    server = subprocess.Popen([MLW, "serve", "-c", str(config), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        one = json.dumps([record]).encode()
        seq = sorted(sequential(port, one, SEQUENTIAL))
        p50, p99 = seq[len(seq) // 2] * 1000, seq[int(len(seq) * 0.99)] * 1000
        rate = concurrent_wrk(port, one)
        how = "wrk, 2 threads" if rate is not None else "8 Python threads"
        if rate is None:
            rate = concurrent_threads(port, one)
        bodies = big_bodies(rows.head(10_000))
        bigs = {name: one_big(port, body, kind) for name, (body, kind) in bodies.items()}
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    output = folder / "scored.parquet"
    walls = [measure([MLW, "predict", "-c", str(config), "--input", str(folder / "score_100k.csv"),
                      "--output", str(output), "--model", "production"])[0] for _ in range(3)]
    predict_s = statistics.median(walls)

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    print(f"in-process floor: predict_proba 1 row p50 {base['one_p50_ms']:.3f} ms; 10,000 rows {base['many_ms']:.1f} ms")
    print(f"single row, sequential ({SEQUENTIAL}): p50 {p50:.2f} ms (target <= 2: {verdict(p50 <= 2)}), "
          f"p99 {p99:.2f} ms (target <= 5: {verdict(p99 <= 5)}); {p50 / base['one_p50_ms']:.1f}x the floor")
    print(f"{CLIENTS} concurrent clients ({how}, {CONCURRENT_S} s): {rate:.0f} requests/s "
          f"(target >= 500: {verdict(rate >= 500)})")
    for name, big in bigs.items():
        print(f"one request of 10,000 rows, {name} ({len(bodies[name][0]) / 1e6:.1f} MB, median of "
              f"{BIG_REPS}): {big:.1f} ms (target <= 30: {verdict(big <= 30)}); {big / base['many_ms']:.1f}x the floor")
    print(f"mlw predict, 100,000-row CSV, whole command: median {predict_s:.2f} s of {walls} "
          f"(target <= 1.5: {verdict(predict_s <= 1.5)})")


if __name__ == "__main__":
    main()
