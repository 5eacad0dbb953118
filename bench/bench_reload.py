"""Hot reload under load (issue 12): eight clients send single-record POST /predict requests to
`mlw serve` (default serve.reload_interval_s; an XGBoost model of the shipped breast-cancer data,
all numeric, so a request costs about a millisecond and the switch's own cost shows) while the production alias is promoted back and
forth between two train versions, as `mlw retrain` does. Measured in the same run: the p99
latency of the requests sent within a second of each switch (from the answer before the first
answer by the new model) against the p99 of all the others, and any request that failed.

Target: no failed request; p99 during the switch at most 2x the steady p99.

    .venv/bin/python bench/bench_reload.py [--switches 6] [--every 3]
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import MLW, ROOT, ensure_out, machine, mlw_json  # noqa: E402

CLIENTS = 8
WINDOW_S = 1.0
LIMIT = 2.0


def setup(out: Path) -> tuple[Path, list[str]]:
    folder = out / "reload"
    if not (folder / "versions.json").exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        shutil.copy(ROOT / "data" / "breast_cancer.csv", folder / "data.csv")
        (folder / "mlw.yaml").write_text(yaml.safe_dump({
            "project": "reload", "artifacts": "artifacts",
            "data": {"source": {"path": "data.csv"}, "target": "diagnosis"},
            "train": {"task": "classification", "model": "xgboost", "early_stopping_rounds": None}},
            sort_keys=False))
        versions = []
        for trees in (50, 100):
            steps = mlw_json(folder, "run", "--until", "train", "--set", f"train.params.n_estimators={trees}")["steps"]
            versions.append(next(s["version"] for s in steps if s["stage"] == "train"))
        (folder / "versions.json").write_text(json.dumps(versions))
    return folder, json.loads((folder / "versions.json").read_text())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--switches", type=int, default=6)
    parser.add_argument("--every", type=float, default=3.0)
    args = parser.parse_args()
    folder, versions = setup(ensure_out())
    mlw_json(folder, "models", "promote", versions[0])
    record = json.loads(pd.read_csv(folder / "data.csv").drop(columns=["diagnosis"]).head(1)
                        .to_json(orient="records"))
    body = json.dumps(record).encode()
    port = free_port()
    server = subprocess.Popen([MLW, "serve", "-c", "mlw.yaml", "--port", str(port)], cwd=folder,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen: list[tuple[float, float, int, str]] = []  # (sent at, seconds, status, version)
    lock = threading.Lock()
    stop = threading.Event()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("mlw serve did not start")
                time.sleep(0.2)

        def client() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            while not stop.is_set():
                sent = time.perf_counter()
                try:
                    conn.request("POST", "/predict", body, {"Content-Type": "application/json"})
                    response = conn.getresponse()
                    answer = response.read()
                    version = json.loads(answer).get("model_version", "") if response.status == 200 else ""
                    status = response.status
                except (OSError, http.client.HTTPException, ValueError):
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    status, version = 0, ""
                with lock:
                    seen.append((sent, time.perf_counter() - sent, status, version))

        threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        time.sleep(args.every)
        for i in range(args.switches):
            mlw_json(folder, "models", "promote", versions[(i + 1) % 2])
            time.sleep(args.every)
        stop.set()
        for thread in threads:
            thread.join(30)
    finally:
        server.terminate()
        server.wait(30)
    seen.sort()
    sent = np.array([s[0] for s in seen])
    latency = np.array([s[1] for s in seen]) * 1000
    failed = sum(1 for s in seen if s[2] != 200)
    switches = [seen[i][0] for i in range(1, len(seen)) if seen[i][3] and seen[i - 1][3] and seen[i][3] != seen[i - 1][3]]
    near = np.zeros(len(seen), dtype=bool)
    for at in switches:
        near |= (sent >= at - WINDOW_S) & (sent <= at + WINDOW_S)
    steady, during = np.percentile(latency[~near], 99), np.percentile(latency[near], 99)
    ratio = during / steady
    passed = failed == 0 and ratio <= LIMIT and len(switches) >= args.switches
    print(machine())
    print(f"\n{len(seen):,} requests from {CLIENTS} clients, {len(switches)} switches seen (of {args.switches} "
          f"promotions), {failed} failed")
    print("\n| requests | count | p50 (ms) | p99 (ms) |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| steady | {int((~near).sum()):,} | {np.percentile(latency[~near], 50):.2f} | {steady:.2f} |")
    print(f"| within {WINDOW_S:g} s of a switch | {int(near.sum()):,} | {np.percentile(latency[near], 50):.2f} | "
          f"{during:.2f} |")
    print(f"\np99 during / steady: {ratio:.2f}x (target <= {LIMIT}x), failed requests: {failed} (target 0): "
          f"{'PASS' if passed else 'FAIL'}")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
