"""The hand-written baseline for `mlw ingest` + `mlw prepare`: the same work, done the way a
competent data scientist would write it with pandas and scikit-learn, in one process.

    python bench/baseline_ingest_prepare.py --csv DATA.csv --out DIR --target target [--engine pyarrow]

Steps: read the CSV, write a Parquet snapshot, read it back, drop duplicate rows, drop rows
with a missing target, stratified 80/20 split, fit a ColumnTransformer on train only
(median impute + standard scale for numerics; constant impute + one-hot with infrequent
grouping for categoricals), joblib.dump it, write train/test Parquet.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import joblib
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--csv", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--target", default="target")
    parser.add_argument("--engine", default=None, choices=[None, "c", "pyarrow"])
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    # "ingest": snapshot the source as Parquet
    df = pd.read_csv(args.csv, engine=args.engine) if args.engine else pd.read_csv(args.csv)
    df.to_parquet(args.out / "snapshot.parquet", index=False)
    del df

    # "prepare"
    df = pd.read_parquet(args.out / "snapshot.parquet")
    df = df.drop_duplicates().reset_index(drop=True)
    df = df.dropna(subset=[args.target]).reset_index(drop=True)
    train, test = train_test_split(df, test_size=0.2, stratify=df[args.target], random_state=42)

    features = train.drop(columns=[args.target])
    numeric = features.select_dtypes(include="number").columns.tolist()
    categorical = [c for c in features.columns if c not in numeric]
    preprocessor = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                              OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=0.01)), categorical),
    ])
    preprocessor.fit(features, train[args.target])
    joblib.dump(preprocessor, args.out / "preprocessor.joblib")
    train.to_parquet(args.out / "train.parquet", index=False)
    test.to_parquet(args.out / "test.parquet", index=False)


if __name__ == "__main__":
    main()
