"""`mlw prepare` for recommendation: (user, item[, rating][, time]) interactions cleaned and split.

Cleaning, each drop counted: rows without a user or an item; ratings that are not numbers or lie
outside data.rating_scale; rows without a time; prepare.window; duplicate (user, item) pairs, the
newest kept; users and items below prepare.min_user_interactions / min_item_interactions. Splits:
`random` (interactions at random), `time` (a global cutoff: the newest share), `user_time` (each
user's last share, or their last split.last_n); seeded. The item metadata (data.items) is joined
on the item column and the unmatched counted. Heavy (pandas): imported only to run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlflow_cli.core.config import Config
from mlflow_cli.core.errors import ConfigError, DataError, missing_column_error
from mlflow_cli.data.coerce import coerce_column

MAX_RARE_PASSES = 10     # dropping rare users can make items rare again: repeat until stable, this often


class InteractionPreparation:
    """The prepare stage's working state for interactions: one frame, cleaned, then split."""

    def __init__(self, config: Config, frame: pd.DataFrame) -> None:
        self.config = config
        self.data = config.model.data
        self.options = config.model.prepare
        self.frame = frame
        self.rows_in = len(frame)
        self.dropped: dict[str, int] = {}
        self.warnings: list[str] = []
        self.splits: dict[str, np.ndarray] = {}
        self.split_method = "random"
        self.metadata: pd.DataFrame | None = None
        self.metadata_unmatched = 0
        self.user, self.item = self.data.user_column, self.data.item_column
        self.rating, self.time = self.data.rating_column, self.data.time_column

    # ----------------------------------------------------------------- cleaning

    def clean(self) -> None:
        present = list(self.frame.columns)
        for key in ("user_column", "item_column", "rating_column", "time_column"):
            column = getattr(self.data, key)
            if column and column not in present:
                raise missing_column_error(self.config.where("data", key), column, present)
        keep = [c for c in (self.user, self.item, self.rating, self.time) if c]
        self.frame = self.frame[keep]
        self._drop(self.frame[self.user].isna().to_numpy() | self.frame[self.item].isna().to_numpy(),
                   "missing_user_or_item")
        if self.rating:
            self._ratings()
        if self.time:
            stamps = self.frame[self.time]
            if not pd.api.types.is_numeric_dtype(stamps):
                self.frame[self.time] = coerce_column(stamps, "datetime")
            self._drop(self.frame[self.time].isna().to_numpy(), "missing_time")
        from mlflow_cli.stages.prepare.preparation import outside_window

        self._drop(outside_window(self.frame, self.options.window, self.time), "outside_window")
        self._deduplicate()
        self._rare()
        users = self.frame[self.user].nunique()
        if self.frame.empty:
            raise DataError("No interactions are left after cleaning.",
                            hint=f"Dropped: {self.dropped}. Check data.user_column, item_column, rating_column and "
                                 f"rating_scale.")
        if users < 2:
            raise DataError(f"data.user_column '{self.user}' holds a single user ({self.frame[self.user].iloc[0]!r}) "
                            f"after cleaning: a recommender learns from many users' interactions.",
                            hint="Check that user_column names the column of user ids.")

    def _ratings(self) -> None:
        values = self.frame[self.rating]
        numbers = values if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values) \
            else pd.to_numeric(values, errors="coerce")
        bad = numbers.isna() & values.notna()
        if bad.all() and len(values):
            example = values[bad].iloc[0]
            raise DataError(f"data.rating_column '{self.rating}' holds no numbers (e.g. {example!r}).",
                            hint="Name the column of numeric ratings, or leave rating_column out for implicit "
                                 "interactions (views, purchases).")
        self.frame[self.rating] = numbers.astype(float)
        self._drop(bad.to_numpy(), "rating_not_a_number")
        self._drop(self.frame[self.rating].isna().to_numpy(), "missing_rating")
        if self.data.rating_scale:
            low, high = self.data.rating_scale
            ratings = self.frame[self.rating]
            self._drop(((ratings < low) | (ratings > high)).to_numpy(), "outside_rating_scale")

    def _deduplicate(self) -> None:
        """One interaction per (user, item): the newest (by time, else the later row)."""
        order = np.argsort(self.frame[self.time].to_numpy(), kind="stable") if self.time \
            else np.arange(len(self.frame))
        ordered = self.frame.iloc[order]
        newer = ordered.duplicated([self.user, self.item], keep="last").to_numpy()
        duplicate = np.zeros(len(self.frame), dtype=bool)
        duplicate[order[newer]] = True
        self._drop(duplicate, "duplicate_interactions")

    def _rare(self) -> None:
        low_user, low_item = self.options.min_user_interactions, self.options.min_item_interactions
        for _ in range(MAX_RARE_PASSES):
            before = len(self.frame)
            if low_user > 1:
                counts = self.frame[self.user].map(self.frame[self.user].value_counts())
                self._drop((counts < low_user).to_numpy(), "rare_users")
            if low_item > 1:
                counts = self.frame[self.item].map(self.frame[self.item].value_counts())
                self._drop((counts < low_item).to_numpy(), "rare_items")
            if len(self.frame) == before:
                return

    def _drop(self, mask: np.ndarray, reason: str) -> None:
        count = int(mask.sum())
        if count:
            self.frame = self.frame.loc[~mask].reset_index(drop=True)
            self.dropped[reason] = self.dropped.get(reason, 0) + count

    # ----------------------------------------------------------------- split

    def split(self) -> None:
        settings = self.options.split
        method = settings.method
        if method == "auto":
            method = "user_time" if self.time else "random"
        if method in ("stratified", "group"):
            raise ConfigError(f"prepare.split.method '{method}' does not apply to recommendation.",
                              hint="Use random, time (a global cutoff) or user_time (each user's last "
                                   "interactions).")
        if method in ("time", "user_time") and not self.time:
            raise ConfigError(f"prepare.split.method '{method}' needs data.time_column.",
                              hint="Set data.time_column to the column holding when each rating was given, or use "
                                   "method: random.")
        self.split_method = method
        n = len(self.frame)
        test = self._held_out(np.arange(n), method, settings.test_size, settings.last_n, settings.seed)
        rest = np.setdiff1d(np.arange(n), test)
        valid = np.array([], dtype=np.int64)
        if settings.valid_size:
            share = settings.valid_size / (1 - settings.test_size)
            valid = rest[self._held_out(rest, method, share, None, settings.seed + 1)]
            rest = np.setdiff1d(rest, valid)
        if len(test) == 0 or len(rest) == 0:
            raise DataError(f"Only {n:,} interactions are left after cleaning: too few to split into train and "
                            f"test with prepare.split.method '{method}'.",
                            hint="Ingest more interactions, lower prepare.split.test_size, or lower the minimum "
                                 "interactions per user and item.")
        self.splits = {"train": np.sort(rest), "test": np.sort(test)}
        if len(valid):
            self.splits["valid"] = np.sort(valid)

    def _held_out(self, rows: np.ndarray, method: str, share: float, last_n: int | None, seed: int) -> np.ndarray:
        """Positions within `rows` (indices into rows) of the interactions held out."""
        n = len(rows)
        if method == "random":
            count = int(round(n * share))
            return np.sort(np.random.default_rng(seed).permutation(n)[:count])
        stamps = self.frame[self.time].to_numpy()[rows]
        order = np.argsort(stamps, kind="stable")
        if method == "time":
            count = int(round(n * share))
            return np.sort(order[n - count:]) if count else np.array([], np.int64)
        # user_time: rank each interaction within its user, newest last
        users = self.frame[self.user].to_numpy()[rows][order]
        frame = pd.DataFrame({"user": users, "pos": order})
        frame["rank"] = frame.groupby("user", sort=False).cumcount(ascending=False)   # 0 = the user's newest
        sizes = frame.groupby("user", sort=False)["pos"].transform("size")
        if last_n:
            held = frame["rank"] < np.minimum(last_n, sizes - 1)          # every user keeps one to learn from
        else:
            held = frame["rank"] < np.floor(sizes * share + 0.5).clip(upper=sizes - 1)
        return np.sort(frame.loc[held, "pos"].to_numpy())

    # ----------------------------------------------------------------- metadata

    def join_metadata(self, items: pd.DataFrame | None) -> None:
        if items is None:
            return
        if self.item not in items.columns:
            raise missing_column_error(self.config.where("data", "items"), self.item, list(items.columns))
        items = items.drop_duplicates(self.item, keep="last")
        interacted = pd.Index(self.frame[self.item].unique())
        try:
            matched = interacted.isin(items[self.item].astype(self.frame[self.item].dtype))
        except (TypeError, ValueError):
            matched = interacted.isin(items[self.item])
        self.metadata_unmatched = int((~matched).sum())
        if self.metadata_unmatched:
            self.warnings.append(f"{self.metadata_unmatched:,} of {len(interacted):,} items have no row in "
                                 f"data.items (joined on '{self.item}'); they are shown without a title")
        self.metadata = items

    # ----------------------------------------------------------------- outputs

    def schema(self) -> dict[str, Any]:
        columns: dict[str, Any] = {}
        for role, column in (("user", self.user), ("item", self.item), ("rating", self.rating), ("time", self.time)):
            if column:
                values = self.frame[column]
                entry: dict[str, Any] = {"dtype": str(values.dtype), "role": role, "nullable": False,
                                         "kind": "numeric" if role == "rating" else
                                         "datetime" if role == "time" else "id"}
                if role == "rating":
                    low, high = self.data.rating_scale or (float(values.min()), float(values.max()))
                    entry["min"], entry["max"] = float(low), float(high)
                columns[column] = entry
        scale = list(self.data.rating_scale) if self.data.rating_scale else (
            [columns[self.rating]["min"], columns[self.rating]["max"]] if self.rating else None)
        return {"columns": columns, "target": None, "id_columns": [], "task": "recommendation",
                "interactions": {"user": self.user, "item": self.item, "rating": self.rating, "time": self.time,
                                 "scale": scale}}

    def summary(self, source: str) -> dict[str, Any]:
        users, items = self.frame[self.user].nunique(), self.frame[self.item].nunique()
        train = self.frame.iloc[self.splits["train"]]
        test = self.frame.iloc[self.splits["test"]]
        info: dict[str, Any] = {
            "source": source, "task": "recommendation", "split_method": self.split_method,
            "rows_in": self.rows_in, "dropped": self.dropped, "rows_out": len(self.frame),
            "splits": {name: len(rows) for name, rows in self.splits.items()},
            "users": int(users), "items": int(items),
            "density": round(len(self.frame) / max(users * items, 1), 6),
            "test_users": int(test[self.user].nunique()),
            "test_users_new": int((~test[self.user].drop_duplicates().isin(train[self.user])).sum()),
            "features_in": 0, "features_out": 0, "feature_kinds": {}, "coerced": {},
        }
        if self.rating:
            ratings = self.frame[self.rating]
            info["ratings"] = {"mean": round(float(ratings.mean()), 4), "min": float(ratings.min()),
                               "max": float(ratings.max())}
        if self.metadata is not None:
            info["metadata"] = {"items": len(self.metadata), "unmatched": self.metadata_unmatched}
        return info
