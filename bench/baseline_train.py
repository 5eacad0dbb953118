"""The hand-written baseline for `mlw train` with XGBoost: the same fit, done the way a
competent data scientist would write it, in one process.

    python bench/baseline_train.py TRAIN.parquet [--target target] [--out model.joblib] [--n-estimators 200]

Steps: read the prepared training split (the same train.parquet that `mlw train` reads),
split off the target, fit xgboost.XGBClassifier(n_estimators=args.n_estimators, max_depth=6,
tree_method="hist", n_jobs=-1, random_state=42), joblib.dump the model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import joblib
import pandas as pd
import xgboost


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("train", type=Path, help="The prepared train.parquet.")
    parser.add_argument("--target", default="target")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out" / "baseline_model.joblib")
    parser.add_argument("--n-estimators", type=int, default=200, help="200 for the benchmark; 1 isolates fixed costs.")
    args = parser.parse_args()

    train = pd.read_parquet(args.train)
    X, y = train.drop(columns=[args.target]), train[args.target]
    model = xgboost.XGBClassifier(n_estimators=args.n_estimators, max_depth=6, tree_method="hist", n_jobs=-1,
                                  random_state=42)
    model.fit(X, y)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, args.out)


if __name__ == "__main__":
    main()
