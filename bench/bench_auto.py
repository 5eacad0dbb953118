"""`model: auto` (issue 14) against plain defaults and against FLAML and AutoGluon at the same budget.

Datasets: every classification and regression set scikit-learn ships offline (breast cancer, wine,
iris, digits, diabetes), the shipped churn table, and two generated tables with known structure
(6,000 rows each: make_classification with 6 informative of 20 features and 3 % flipped labels;
Friedman #1 regression, 10 features of which 5 matter, noise 1).

Each dataset goes through `mlw ingest` + `mlw prepare` (a seeded 80/20 split, stratified for
classes; datasets under 1,000 training rows on 5 splits, seeds 42-46, every score the mean over
them, since their test sets of 30-114 rows alone would decide by noise) and `mlw train` with
`model: auto` and its default budget (60 s per 5,000 training rows, 15 s at least). On the very
same train and test rows:
- (a) plain defaults, each fitted on prepare's preprocessing: LogisticRegression (Ridge for
  regression), RandomForest(200 trees) and XGBoost;
- (b) FLAML's AutoML and AutoGluon's TabularPredictor on the raw rows, given mlw's budget, in the
  benchmark's own environment (bench/out/auto-venv, made here; never mlw's dependencies).
Scores on the test split: ROC AUC (binary; multiclass: macro one-vs-rest), RMSE (regression);
accuracy and log loss are shown beside.

Goals: auto >= the best plain default - 0.005 AUC (RMSE <= 1.01 x the best) on every dataset; on
average not worse than FLAML (mean AUC difference >= 0; mean RMSE ratio <= 1).

    .venv/bin/python bench/bench_auto.py [--only iris,wine] [--tools flaml,autogluon] [--no-competitors]
        [--small-splits 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH, MLW, ROOT, ensure_out, machine  # noqa: E402

SEED = 42
SMALL_ROWS = 1000  # datasets with fewer training rows are scored on several splits (their test sets are tiny)
COMPETITORS = ("flaml", "autogluon")
COMPETITOR_PACKAGES = ["flaml[automl]>=2.3", "autogluon.tabular[lightgbm,catboost,xgboost]>=1.2"]  # no torch: no neural nets


# ----------------------------------------------------------------------------- datasets

def datasets() -> dict[str, tuple[pd.DataFrame, str, str, list[str]]]:
    """name -> (frame, target, task, id columns); task: binary, multiclass or regression."""
    from sklearn.datasets import load_digits, make_classification, make_friedman1

    data = ROOT / "data"
    out: dict[str, tuple[pd.DataFrame, str, str, list[str]]] = {
        "breast_cancer": (pd.read_csv(data / "breast_cancer.csv"), "diagnosis", "binary", []),
        "wine": (pd.read_csv(data / "wine.csv"), "cultivar", "multiclass", []),
        "iris": (pd.read_csv(data / "iris.csv"), "species", "multiclass", []),
    }
    digits = load_digits(as_frame=True).frame.rename(columns={"target": "digit"})
    digits["digit"] = "d" + digits["digit"].astype(str)
    out["digits"] = (digits, "digit", "multiclass", [])
    out["diabetes"] = (pd.read_csv(data / "diabetes.csv"), "progression", "regression", [])
    churn = pd.read_csv(data / "churn.csv")
    out["churn"] = (churn, "churned", "binary", ["customer_id"])
    X, y = make_classification(n_samples=6000, n_features=20, n_informative=6, n_redundant=4, flip_y=0.03,
                               class_sep=0.8, random_state=7)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(20)])
    frame["label"] = np.where(y == 1, "pos", "neg")
    out["gen_binary"] = (frame, "label", "binary", [])
    X, y = make_friedman1(n_samples=6000, n_features=10, noise=1.0, random_state=7)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(10)])
    frame["y"] = y
    out["gen_friedman"] = (frame, "y", "regression", [])
    return out


def prepared(name: str, frame: pd.DataFrame, target: str, task: str, ids: list[str], seed: int) -> Path:
    """The dataset's mlw project in bench/out/auto/<name>[-s<seed>], ingested and prepared with
    that split seed (cached by mlw)."""
    folder = ensure_out() / "auto" / (name if seed == SEED else f"{name}-s{seed}")
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / "data.csv", index=False)
    split = {"test_size": 0.2, "seed": seed}
    config = {"project": name, "artifacts": "artifacts",
              "data": {"source": {"path": "data.csv"}, "target": target, "id_columns": ids},
              "prepare": {"split": split},
              "train": {"task": "regression" if task == "regression" else "classification", "model": "auto"}}
    path = folder / "mlw.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    for stage in ("ingest", "prepare"):
        _mlw(stage, "-c", path)
    return path


def _mlw(*args: object, env: dict[str, str] | None = None) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "MLW_TIME_BUDGET_S"}  # auto's own default budget
    done = subprocess.run([MLW, *map(str, args)], capture_output=True, text=True, env={**clean, **(env or {})})
    if done.returncode != 0:
        raise SystemExit(f"mlw {' '.join(map(str, args))} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def latest(config: Path, stage: str) -> Path:
    root = config.parent / "artifacts" / yaml.safe_load(config.read_text())["project"] / stage
    return root / (root / "latest").read_text().strip()


# ----------------------------------------------------------------------------- scoring

def scores(task: str, y_true: np.ndarray, outputs: np.ndarray, classes: list | None) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, log_loss, mean_squared_error, roc_auc_score

    if task == "regression":
        return {"rmse": float(np.sqrt(mean_squared_error(y_true, outputs)))}
    proba = np.clip(np.asarray(outputs, dtype=float), 0, 1)
    proba = proba / proba.sum(axis=1, keepdims=True)
    labels = np.asarray(classes)[proba.argmax(axis=1)]
    out = {"accuracy": float(accuracy_score(y_true, labels)),
           "log_loss": float(log_loss(y_true, proba, labels=classes))}
    if task == "binary":
        out["auc"] = float(roc_auc_score(y_true == classes[1], proba[:, 1]))
    else:
        out["auc"] = float(roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=classes))
    return out


def plain_defaults(task: str, preprocessor, train: pd.DataFrame, test: pd.DataFrame, target: str) -> dict:
    from sklearn.base import clone
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import LabelEncoder
    from xgboost import XGBClassifier, XGBRegressor

    regression = task == "regression"
    models = {"linear": Ridge() if regression else LogisticRegression(max_iter=2000),
              "random_forest": (RandomForestRegressor if regression else RandomForestClassifier)(
                  n_estimators=200, random_state=SEED, n_jobs=-1),
              "xgboost": (XGBRegressor if regression else XGBClassifier)(random_state=SEED, n_jobs=-1)}
    y = train[target]
    encoder = None if regression else LabelEncoder().fit(y)
    out = {}
    for name, model in models.items():
        pipeline = Pipeline([("preprocess", clone(preprocessor)), ("model", model)])
        started = time.perf_counter()
        pipeline.fit(train, y if regression else encoder.transform(y))
        seconds = time.perf_counter() - started
        outputs = pipeline.predict(test) if regression else pipeline.predict_proba(test)
        classes = None if regression else list(encoder.classes_)
        out[name] = {**scores(task, test[target].to_numpy(), outputs, classes), "seconds": seconds}
    return out


# ----------------------------------------------------------------------------- competitors

def competitor_python() -> str:
    venv = ensure_out() / "auto-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *COMPETITOR_PACKAGES], check=True)
    return str(python)


def competitors(python: str, tools: list[str], job: dict, task: str, y_true: np.ndarray) -> dict:
    path = ensure_out() / "auto" / "job.json"
    path.write_text(json.dumps(job))
    done = subprocess.run([python, str(BENCH / "auto_competitors.py"), str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        return {tool: {"error": done.stderr[-500:]} for tool in tools}
    raw = json.loads(done.stdout.strip().splitlines()[-1])
    out = {}
    for tool, result in raw.items():
        if "error" in result:
            out[tool] = result
            continue
        given = result["outputs"]
        if task == "regression":
            measured = scores(task, y_true, np.asarray(given["values"]), None)
        else:
            measured = scores(task, y_true, np.asarray(given["proba"]), given["classes"])
        out[tool] = {**measured, "seconds": result["seconds"], "best": result["best"]}
    return out


# ----------------------------------------------------------------------------- the run

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated dataset names")
    parser.add_argument("--tools", default=",".join(COMPETITORS))
    parser.add_argument("--no-competitors", action="store_true")
    parser.add_argument("--small-splits", type=int, default=5,
                        help=f"seeded train/test splits for datasets under {SMALL_ROWS:,} training rows")
    args = parser.parse_args()
    tools = [] if args.no_competitors else [t for t in args.tools.split(",") if t]
    python = competitor_python() if tools else None
    wanted = [n for n in args.only.split(",") if n]
    rows = []
    print(f"machine: {machine()}")
    for name, (frame, target, task, ids) in datasets().items():
        if wanted and name not in wanted:
            continue
        splits = args.small_splits if len(frame) * 0.8 < SMALL_ROWS else 1
        runs = [one_split(name, frame, target, task, ids, SEED + i, tools, python) for i in range(splits)]
        for run in runs:
            print(json.dumps(run, default=str), flush=True)
        rows.append(averaged(runs))
    report(rows)
    (ensure_out() / "bench_auto.json").write_text(json.dumps(rows, indent=2, default=str))


def one_split(name: str, frame: pd.DataFrame, target: str, task: str, ids: list[str], seed: int,
              tools: list[str], python: str | None) -> dict:
    """auto, the plain defaults and the competitors on one seeded train/test split."""
    import joblib

    from mlflow_cli.models.tuning import default_budget

    config = prepared(name, frame, target, task, ids, seed)
    prepare = latest(config, "prepare")
    train, test = pd.read_parquet(prepare / "train.parquet"), pd.read_parquet(prepare / "test.parquet")
    budget = default_budget(len(train))
    started = time.perf_counter()
    _mlw("train", "-c", config, "--force")
    mlw_seconds = time.perf_counter() - started
    version = latest(config, "train")
    info = json.loads((version / "manifest.json").read_text())["info"]
    model = joblib.load(version / "model.joblib")
    y_true = test[target].to_numpy()
    if task == "regression":
        auto = scores(task, y_true, model.predict(test), None)
    else:
        auto = scores(task, y_true, model.predict_proba(test), [c for c in model.classes_])
    auto.update(seconds=mlw_seconds, best=info["model"])
    plain = plain_defaults(task, joblib.load(prepare / "preprocessor.joblib"), train, test, target)
    job = {"train": str(prepare / "train.parquet"), "test": str(prepare / "test.parquet"), "target": target,
           "task": task, "drop": ids, "budget": budget, "seed": SEED, "tools": tools}
    others = competitors(python, tools, job, task, y_true) if tools else {}
    return {"dataset": name, "split_seed": seed, "task": task, "train_rows": len(train), "test_rows": len(test),
            "budget_s": budget, "auto": auto, "plain": plain, "competitors": others}


def averaged(runs: list[dict]) -> dict:
    """One dataset's row: every tool's scores and seconds averaged over the splits (a tool that
    failed on any split is 'failed'); the models auto kept, joined."""
    def mean(results: list[dict]) -> dict:
        if any("error" in r for r in results):
            return {"error": next(r["error"] for r in results if "error" in r)}
        keys = [k for k, v in results[0].items() if isinstance(v, (int, float))]
        return {k: float(np.mean([r[k] for r in results])) for k in keys}

    first = runs[0]
    kept = Counter(r["auto"]["best"] for r in runs)
    auto = {**mean([r["auto"] for r in runs]),
            "best": ", ".join(m if n == 1 else f"{m} x{n}" for m, n in kept.most_common())}
    plain = {k: mean([r["plain"][k] for r in runs]) for k in first["plain"]}
    others = {k: mean([r["competitors"][k] for r in runs]) for k in first["competitors"]}
    return {**first, "splits": len(runs), "auto": auto, "plain": plain, "competitors": others}


def report(rows: list[dict]) -> None:
    print("\n| dataset | rows (train/test) x splits | budget | metric | auto (model) | best plain default | auto - best plain "
          "| FLAML | AutoGluon | goal vs plain |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    flaml_diffs: dict[str, list[float]] = {"auc": [], "rmse": []}
    met_all = True
    for row in rows:
        metric = "rmse" if row["task"] == "regression" else "auc"
        auto = row["auto"][metric]
        plain = {k: v[metric] for k, v in row["plain"].items()}
        best_name = min(plain, key=plain.get) if metric == "rmse" else max(plain, key=plain.get)
        best = plain[best_name]
        met = auto <= best * 1.01 if metric == "rmse" else auto >= best - 0.005
        met_all &= met
        diff = f"{(auto / best - 1) * 100:+.1f} %" if metric == "rmse" else f"{auto - best:+.4f}"
        cells = []
        for tool in COMPETITORS:
            result = row["competitors"].get(tool)
            if not result or "error" in result:
                cells.append("n/a" if not result else "failed")
                continue
            cells.append(f"{result[metric]:.4f} ({result['seconds']:.0f} s)")
            if tool == "flaml":
                flaml_diffs[metric].append(auto / result[metric] if metric == "rmse" else auto - result[metric])
        print(f"| {row['dataset']} | {row['train_rows']}/{row['test_rows']} x {row['splits']} | {row['budget_s']:g} s "
              f"| {metric} | "
              f"{auto:.4f} ({row['auto']['best']}, {row['auto']['seconds']:.0f} s) | {best:.4f} ({best_name}) | "
              f"{diff} | {' | '.join(cells)} | {'met' if met else 'NOT met'} |")
    print(f"\nauto vs the best plain default: {'met on every dataset' if met_all else 'NOT met everywhere'}")
    if flaml_diffs["auc"]:
        print(f"auto - FLAML, mean AUC difference over {len(flaml_diffs['auc'])} classification sets: "
              f"{np.mean(flaml_diffs['auc']):+.4f} (goal >= 0)")
    if flaml_diffs["rmse"]:
        print(f"auto / FLAML, mean RMSE ratio over {len(flaml_diffs['rmse'])} regression sets: "
              f"{np.mean(flaml_diffs['rmse']):.4f} (goal <= 1)")


if __name__ == "__main__":
    main()
