"""The trained recommender that train pickles and evaluate, predict and serve load: a ranking model
(popularity, als, ease) for top-k lists, optionally a rating model (bias, mf) for predicted
ratings, the id <-> code maps, what each user has seen, and the item metadata for display.

- `recommend` / `recommend_many`: top-k with seen items excluded; a user the model has never seen
  gets the popular items (and is told so).
- `recommend_new`: a new user's ratings folded into the trained factors on the fly, no refit.
- `add`: new ratings recorded; the users they touch are folded in again at once, so their next
  lists reflect them (the training data are not refitted: `mlw retrain` does that).
- `similar`: items like an item; `predict`: ratings of (user, item) pairs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from mlflow_cli.models.recommend.algorithms import Algorithm
from mlflow_cli.models.recommend.interactions import Interactions, codes_of, row_matrix

BATCH_USERS = 1024           # users scored together by recommend_many (their scores: users x items floats)


@dataclass
class Ranked:
    """One list: item ids best first, their scores, and whether the user was known (else: popular)."""

    items: list[Any]
    scores: list[float]
    known: bool


@dataclass
class _Added:
    items: np.ndarray            # the user's interactions now: item codes
    values: np.ndarray           # and their values
    rank: Any                    # their ranking vector (None: fold in again when asked, for sparse ones)
    rate: Any                    # their rating vector, with a rating model


@dataclass
class Recommender:
    ranker: Algorithm
    rater: Algorithm | None
    users: pd.Index
    items: pd.Index
    seen: sparse.csr_matrix              # training interactions (users x items): ratings, or 1.0
    rank_vectors: Any
    rate_vectors: Any
    popularity: np.ndarray               # users who interacted with each item, in training
    scale: tuple[float, float] | None = None
    metadata: pd.DataFrame | None = None  # item id -> display columns (title, genres...)
    added: dict[Any, _Added] = field(default_factory=dict)

    @classmethod
    def fit(cls, train: Interactions, ranker: Algorithm, rater: Algorithm | None = None, *, seed: int = 0,
            scale: tuple[float, float] | None = None, metadata: pd.DataFrame | None = None) -> Recommender:
        rank_vectors = ranker.fit(train.matrix, seed)
        rate_vectors = rater.fit(train.matrix, seed) if rater is not None else None
        popularity = np.asarray((train.matrix != 0).sum(axis=0)).ravel().astype(np.int64)
        return cls(ranker, rater, train.users, train.items, train.matrix, rank_vectors, rate_vectors,
                   popularity, scale, metadata)

    # ----------------------------------------------------------------- lists

    def recommend(self, user: Any, k: int = 10, only: np.ndarray | None = None) -> Ranked:
        """`only`: a mask over the items (`matching`), e.g. one genre; the others are not offered."""
        state = self._state(user)
        if state is None:
            return self._popular(k, exclude=np.array([], np.int64), only=only)
        return self._ranked(self.ranker.scores(state.rank), state.items, k, only)

    def recommend_new(self, items: Any, ratings: Any = None, k: int = 10, only: np.ndarray | None = None) -> Ranked:
        """A user the model has not seen, from their ratings (or interactions): folded in, not refitted.
        Items the model does not know are ignored; with none left, the popular items."""
        row, _ = self._row_of(items, ratings)
        if row.nnz == 0:
            return self._popular(k, exclude=row.indices, only=only)
        return self._ranked(self.ranker.scores(self.ranker.fold_in(row)), row.indices, k, only)

    def recommend_many(self, users: Any, k: int = 10) -> list[Ranked]:
        """Top-k for many users at once (batch predict, evaluation), in the order given."""
        users = list(users)
        codes = codes_of(self.users, users)
        lists: list[Ranked | None] = [None] * len(users)
        plain = [i for i, (u, c) in enumerate(zip(users, codes)) if c >= 0 and u not in self.added]
        for start in range(0, len(plain), BATCH_USERS):
            chunk = plain[start:start + BATCH_USERS]
            rows = codes[chunk]
            scores = self.ranker.scores(self.rank_vectors[rows])
            seen = self.seen[rows]
            scores[np.repeat(np.arange(len(rows)), np.diff(seen.indptr)), seen.indices] = -np.inf
            for position, (items, values) in zip(chunk, top_k(scores, k)):
                lists[position] = Ranked(list(self.items[items]), values.tolist(), True)
        for i, ranked in enumerate(lists):
            if ranked is None:
                lists[i] = self.recommend(users[i], k)
        return lists  # type: ignore[return-value]

    def similar(self, item: Any, k: int = 10, only: np.ndarray | None = None) -> Ranked:
        """Items most like `item` (by the model's item vectors, else co-occurrence); an unknown item
        gets the popular items."""
        code = codes_of(self.items, [item])[0]
        if code < 0:
            return self._popular(k, exclude=np.array([], np.int64), only=only)
        similarity = self.ranker.similar_to(int(code))
        if similarity is None:
            binary = self.seen.copy()
            binary.data[:] = 1.0
            column = binary[:, int(code)]
            counts = np.asarray((binary.T @ column).todense()).ravel()
            similarity = counts / np.sqrt(np.maximum(self.popularity, 1) * max(self.popularity[code], 1))
        return self._ranked(np.asarray(similarity, np.float32)[None, :], np.array([code]), k, only)

    def _popular(self, k: int, exclude: np.ndarray, only: np.ndarray | None = None) -> Ranked:
        scores = self.popularity.astype(np.float32)[None, :] - np.arange(len(self.items)) * 1e-6
        ranked = self._ranked(scores, exclude, k, only)
        ranked.scores = [float(self.popularity[c]) for c in codes_of(self.items, ranked.items)]
        ranked.known = False
        return ranked

    def _ranked(self, scores: np.ndarray, exclude: np.ndarray, k: int, only: np.ndarray | None = None) -> Ranked:
        scores = np.array(scores, np.float32).reshape(1, -1)
        scores[0, exclude] = -np.inf
        if only is not None:
            scores[0, ~only] = -np.inf
        items, values = top_k(scores, k)[0]
        return Ranked(list(self.items[items]), values.tolist(), True)

    # ----------------------------------------------------------------- ratings

    def predict(self, users: Any, items: Any) -> np.ndarray:
        """Predicted ratings of (user, item) pairs, clipped to the scale; an unknown user gets the rating
        model's answer for an average user, an unknown item NaN. Needs a rating model."""
        if self.rater is None:
            raise ValueError("this recommender was trained without ratings, so it predicts no ratings")
        users, item_codes = list(users), codes_of(self.items, items)
        empty = self.rater.fold_in(sparse.csr_matrix((1, len(self.items)), dtype=np.float32))
        vectors: dict[Any, np.ndarray] = {}
        for user in dict.fromkeys(users):
            state = self._state(user)
            vectors[user] = np.asarray(empty if state is None else state.rate).ravel()
        rows = np.stack([vectors[user] for user in users]) if users else np.zeros((0, empty.shape[1]))
        known = item_codes >= 0
        out = np.full(len(users), np.nan)
        out[known] = np.einsum("ij,ij->i", rows[known], self.rater.item_matrix[item_codes[known]]) + self.rater.offset
        return np.clip(out, *self.scale) if self.scale else out

    # ----------------------------------------------------------------- updates

    def add(self, users: Any, items: Any, ratings: Any = None) -> dict[str, int]:
        """Record new interactions; each user they touch is folded in again at once (no refit). An
        item the model does not know cannot be scored yet and is counted, not kept. A user's rating of
        an item they rated before replaces it."""
        frame = pd.DataFrame({"user": list(users), "item": list(items)})
        frame["value"] = 1.0 if ratings is None else np.asarray(ratings, float)
        frame["code"] = codes_of(self.items, frame["item"])
        unknown = int((frame["code"] < 0).sum())
        frame = frame[frame["code"] >= 0]
        if frame.empty:
            return {"ratings": 0, "users": 0, "new_users": 0, "unknown_items": unknown}
        touched = list(dict.fromkeys(frame["user"]))
        slot = {user: i for i, user in enumerate(touched)}
        # each touched user's interactions so far (added, trained, or none), then the new ones
        old_rows, old_items, old_values, new_users = [], [], [], 0
        for i, user in enumerate(touched):
            history = self._history(user)
            if history is None:
                new_users += 1
                continue
            old_rows.append(np.full(len(history[0]), i))
            old_items.append(history[0])
            old_values.append(history[1])
        rows = np.concatenate(old_rows + [frame["user"].map(slot).to_numpy()])
        cols = np.concatenate(old_items + [frame["code"].to_numpy()])
        values = np.concatenate(old_values + [frame["value"].to_numpy(np.float32)])
        last = pd.DataFrame({"r": rows, "c": cols}).duplicated(keep="last").to_numpy()  # the newest rating wins
        stacked = sparse.csr_matrix((values[~last], (rows[~last], cols[~last])), shape=(len(touched), len(self.items)),
                                    dtype=np.float32)
        rank = self.ranker.fold_in(stacked)
        rate = self.rater.fold_in(stacked) if self.rater is not None else None
        pointers = stacked.indptr
        dense = not sparse.issparse(rank)  # sparse vectors (ease: the row itself) are made again when asked for
        for i, user in enumerate(touched):
            start, stop = pointers[i], pointers[i + 1]
            self.added[user] = _Added(stacked.indices[start:stop], stacked.data[start:stop],
                                      rank[i:i + 1] if dense else None, None if rate is None else rate[i:i + 1])
        return {"ratings": len(frame), "users": len(touched), "new_users": new_users, "unknown_items": unknown}

    def _state(self, user: Any) -> _Added | None:
        """A user's interactions and vectors (added since training, or from training), None for a new one."""
        added = self.added.get(user)
        if added is not None:
            if added.rank is None:
                row = row_matrix(added.items, added.values, len(self.items))
                return _Added(added.items, added.values, self.ranker.fold_in(row), added.rate)
            return added
        code = self._code(user)
        if code is None:
            return None
        start, stop = self.seen.indptr[code], self.seen.indptr[code + 1]
        rate = self.rate_vectors[code:code + 1] if self.rater is not None else None
        return _Added(self.seen.indices[start:stop], self.seen.data[start:stop], self.rank_vectors[code:code + 1], rate)

    def _history(self, user: Any) -> tuple[np.ndarray, np.ndarray] | None:
        """A user's interactions (item codes, values), without their vectors; None for a new user."""
        added = self.added.get(user)
        if added is not None:
            return added.items, added.values
        code = self._code(user)
        if code is None:
            return None
        start, stop = self.seen.indptr[code], self.seen.indptr[code + 1]
        return self.seen.indices[start:stop], self.seen.data[start:stop]

    def _code(self, user: Any) -> int | None:
        try:
            code = self.users.get_loc(user)
        except (KeyError, TypeError):
            return None
        return int(code) if isinstance(code, (int, np.integer)) else None  # ids are unique: a position

    def _row_of(self, items: Any, ratings: Any) -> tuple[sparse.csr_matrix, int]:
        codes = codes_of(self.items, items)
        values = np.ones(len(codes), np.float32) if ratings is None else np.asarray(ratings, np.float32)
        known = codes >= 0
        return row_matrix(codes[known], values[known], len(self.items)), int((~known).sum())

    # ----------------------------------------------------------------- display

    def describe(self, items: list[Any]) -> list[dict[str, Any]]:
        """The metadata of each item ({} for an item the metadata lacks)."""
        if self.metadata is None:
            return [{} for _ in items]
        rows = self.metadata.reindex(items)
        return [{k: _plain(v) for k, v in row.items() if not _missing(v)} for _, row in rows.iterrows()]

    def matching(self, filters: dict[str, str]) -> np.ndarray:
        """A mask over the items: those whose metadata column holds each text (case-insensitive; "Drama"
        matches "Crime|Drama"). ValueError naming the columns for a column the metadata lacks."""
        if self.metadata is None:
            raise ValueError("this model has no item metadata (data.items) to filter on")
        keep = np.ones(len(self.items), dtype=bool)
        rows = self.metadata.reindex(self.items)
        for column, text in filters.items():
            if column not in rows.columns:
                raise ValueError(f"the item metadata has no column '{column}'; it has {', '.join(map(str, rows.columns))}")
            keep &= rows[column].astype(str).str.contains(str(text), case=False, regex=False).to_numpy()
        return keep

    def popularity_share(self) -> dict[Any, float]:
        """item -> the share of training users who interacted with it (the mean_popularity metric)."""
        return dict(zip(self.items, self.popularity / max(len(self.users), 1)))

    def is_known_user(self, user: Any) -> bool:
        return self._state(user) is not None


def top_k(scores: np.ndarray, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per row of scores: the codes of the k highest finite scores, best first, and the scores."""
    k = max(0, min(k, scores.shape[1]))
    if k == 0:
        return [(np.array([], np.int64), np.array([], np.float32)) for _ in range(scores.shape[0])]
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    values = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-values, axis=1, kind="stable")
    part, values = np.take_along_axis(part, order, axis=1), np.take_along_axis(values, order, axis=1)
    out = []
    for items, vals in zip(part, values):
        finite = np.isfinite(vals)
        out.append((items[finite], vals[finite]))
    return out


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
