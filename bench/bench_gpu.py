"""XGBoost on the GPU (`train.params.device: cuda`): `mlw train` on the GPU against `mlw train`
on every CPU core of the same machine, measured in the same run, plus what follows training
(evaluate and `mlw predict` of the GPU-trained model, which score on the CPU).

    python bench/bench_gpu.py [--rows 1000000] [--trees 300] [--out DIR]

Data: seeded rows x 28 float features with a 0/1 target from a logistic model with
interactions (Parquet, so the setup is quick). Prepare holds out 10% for the test split and
no validation split, so both fits build every tree (no early stopping) and do the same work.
The fit time is XGBoost's fit inside `mlw train` (info.fit_seconds); the command time adds
reading the split, preprocessing and writing the model.

On a machine without a GPU the `cuda` run trains on the CPU (mlw says so) and the ratio is
about 1. Runs with the repository on PYTHONPATH (no install needed): `python -m mlflow_cli`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FEATURES, SEED = 28, 20261126


def mlw(*args: str, cwd: Path) -> tuple[dict, float, str]:
    """Run `python -m mlflow_cli ARGS --json`: (its JSON, wall seconds, stderr)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "mlflow_cli", *args, "--json"], cwd=cwd, env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"mlw {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout), wall, proc.stderr


def make_data(folder: Path, rows: int) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(SEED)
    x = rng.normal(size=(rows, FEATURES)).astype(np.float32)
    logit = x[:, :6] @ np.array([1.0, -0.8, 0.6, 0.5, -0.4, 0.3]) + 0.7 * x[:, 6] * x[:, 7] + (x[:, 8] > 1.0)
    y = rng.random(rows) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(FEATURES)]).assign(target=np.where(y, "yes", "no"))
    frame.to_parquet(folder / "train.parquet", index=False)
    frame.drop(columns="target").head(100_000).to_parquet(folder / "score.parquet", index=False)
    (folder / "mlw.yaml").write_text(
        "project: bench_gpu\n"
        "data: {source: {path: train.parquet}, target: target}\n"
        "prepare: {split: {test_size: 0.1, valid_size: 0.0, seed: 1}}\n"
        "train: {task: classification, model: xgboost}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--trees", type=int, default=300)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "gpu")
    args = parser.parse_args()
    folder = args.out
    folder.mkdir(parents=True, exist_ok=True)
    smi = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True) if _has("nvidia-smi") else None
    print(f"GPU: {smi.stdout.strip() if smi and smi.returncode == 0 else 'none'}; CPU cores: {os.cpu_count()}; "
          f"python {sys.version.split()[0]}")
    started = time.perf_counter()
    make_data(folder, args.rows)
    mlw("run", "--until", "prepare", "-c", "mlw.yaml", "--force", cwd=folder)
    print(f"setup ({args.rows:,} rows, ingest + prepare): {time.perf_counter() - started:.1f} s")

    results = {}
    for device in ("cpu", "cuda"):
        params = f"train.params={{n_estimators: {args.trees}, max_depth: 8, learning_rate: 0.1, device: {device}}}"
        trained, wall, stderr = mlw("train", "-c", "mlw.yaml", "--set", params, "--force", cwd=folder)
        info = trained["info"]
        evaluated, _, _ = mlw("evaluate", "-c", "mlw.yaml", "--model", f"train/{trained['version']}", "--force",
                              cwd=folder)
        results[device] = {"version": trained["version"], "wall": wall, "fit": info["fit_seconds"],
                           "trained_on": info["device"], "bundle": info["scoring_bundle"],
                           "warnings": trained["warnings"], "roc_auc": evaluated["metrics"]["roc_auc"]}
        print(f"train device={device}: trained on {info['device'] or 'cpu'}, fit {info['fit_seconds']:.2f} s, "
              f"whole command {wall:.2f} s, test roc_auc {evaluated['metrics']['roc_auc']:.4f}, "
              f"scoring bundle {info['scoring_bundle']}, warnings {trained['warnings']}")
    gpu = results["cuda"]
    scored, wall, _ = mlw("predict", "-c", "mlw.yaml", "--model", f"train/{gpu['version']}", "--input",
                          "score.parquet", "--output", "scored.parquet", cwd=folder)
    print(f"mlw predict, {scored['info']['rows_scored']:,} rows with the GPU-trained model: {wall:.2f} s, "
          f"{scored['info']['chunks_from_bundle']} of {scored['info']['chunks']} chunks from the scoring bundle")
    cpu = results["cpu"]
    print(f"ratio GPU / CPU (same machine, same run): fit {gpu['fit'] / cpu['fit']:.3f}x "
          f"({cpu['fit'] / gpu['fit']:.1f} times faster), whole `mlw train` {gpu['wall'] / cpu['wall']:.3f}x; "
          f"roc_auc {gpu['roc_auc']:.4f} vs {cpu['roc_auc']:.4f}")


def _has(program: str) -> bool:
    from shutil import which

    return which(program) is not None


if __name__ == "__main__":
    main()
