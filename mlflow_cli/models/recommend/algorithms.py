"""The recommendation models, in one shape: `fit` on the training matrix (interactions.py) returns
the training users' vectors, `fold_in` gives the vectors of any users from their interaction rows
without a refit, and a user's scores over every item are `vectors @ item_matrix.T + offset`
(`scores`). So the served model, batch top-k, evaluation and fold-in are written once, in
recommender.py.

- `popularity`: items by how many users interacted with them (a baseline).
- `bias`: global mean + user bias + item bias, alternating regularised least squares (Surprise's
  `BaselineOnly`, `method: als`): a rating baseline.
- `mf`: biased matrix factorisation by alternating least squares, for explicit ratings; predicts
  ratings (it is not used to rank: rating models rank worse than popularity).
- `als`: implicit-feedback ALS (Hu, Koren and Volinsky) from the `implicit` library, to rank.
- `ease`: EASE (Steck 2019), a closed-form item-item model for catalogues of up to EASE_MAX_ITEMS.

numpy and scipy at import; `implicit` inside AlternatingLeastSquares's methods, with BLAS held to one
thread as it asks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from scipy import sparse

EASE_MAX_ITEMS = 20_000      # its item x item matrix: 20k items are 1.6 GB of float32
SOLVE_BATCH = 4096           # users or items whose normal equations are solved together


@dataclass
class Algorithm:
    """One model. Subclasses set `item_matrix` and `offset` in fit."""

    name: ClassVar[str]
    rates: ClassVar[bool] = False        # predicts ratings on the data's scale (else a ranking score)
    item_matrix: Any = field(default=None, repr=False)  # (items, d): scores = vectors @ item_matrix.T + offset
    offset: float = 0.0

    def fit(self, matrix: sparse.csr_matrix, seed: int) -> Any:
        raise NotImplementedError

    def fold_in(self, rows: sparse.csr_matrix) -> Any:
        raise NotImplementedError

    def scores(self, vectors: Any) -> np.ndarray:
        out = vectors @ self.item_matrix.T
        out = np.asarray(out.todense() if sparse.issparse(out) else out, dtype=np.float32)
        return out + np.float32(self.offset) if self.offset else out

    def similar_to(self, item: int) -> np.ndarray | None:
        """Each item's similarity to `item`, or None to use co-occurrence in the training data."""
        return None


def cosine_to(matrix: np.ndarray, item: int) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1)
    norms[norms == 0] = 1.0
    return (matrix @ matrix[item]) / (norms * norms[item])


@dataclass
class Popularity(Algorithm):
    """Items ranked by how many users interacted with them; the same list for everyone."""

    name: ClassVar[str] = "popularity"

    def fit(self, matrix: sparse.csr_matrix, seed: int) -> np.ndarray:
        counts = np.asarray((matrix != 0).sum(axis=0), dtype=np.float32).ravel()
        # ties broken towards the lower item code (ids are sorted), so rankings are stable
        ties = np.arange(len(counts), dtype=np.float32) / max(len(counts), 1) * 1e-3
        self.item_matrix = (counts - ties)[:, None]
        return self.fold_in(matrix)

    def fold_in(self, rows: sparse.csr_matrix) -> np.ndarray:
        return np.ones((rows.shape[0], 1), np.float32)


@dataclass
class Bias(Algorithm):
    """rating ~ mean + user bias + item bias. reg_user 15, reg_item 10 and 10 epochs are Surprise's
    defaults; each epoch sets every item's bias given the users', then every user's."""

    name: ClassVar[str] = "bias"
    rates: ClassVar[bool] = True
    reg_user: float = 15.0
    reg_item: float = 10.0
    iterations: int = 10

    def fit(self, matrix: sparse.csr_matrix, seed: int) -> np.ndarray:
        if matrix.nnz == 0:
            raise ValueError("the bias model needs ratings")
        coo = matrix.tocoo()
        users, items, ratings = coo.row, coo.col, coo.data.astype(np.float64)
        n_users, n_items = matrix.shape
        self.offset = float(ratings.mean())
        b_user, b_item = np.zeros(n_users), np.zeros(n_items)
        n_user, n_item = np.bincount(users, minlength=n_users), np.bincount(items, minlength=n_items)
        residual = ratings - self.offset
        for _ in range(self.iterations):
            b_item = np.bincount(items, residual - b_user[users], n_items) / (self.reg_item + n_item)
            b_user = np.bincount(users, residual - b_item[items], n_users) / (self.reg_user + n_user)
        self.item_matrix = np.column_stack([np.ones(n_items), b_item]).astype(np.float32)
        return np.column_stack([b_user, np.ones(n_users)]).astype(np.float32)

    @property
    def item_bias(self) -> np.ndarray:
        return self.item_matrix[:, 1]

    def fold_in(self, rows: sparse.csr_matrix) -> np.ndarray:
        rows = sparse.csr_matrix(rows)
        residual = rows.data - self.offset - self.item_bias[rows.indices]
        counts = np.diff(rows.indptr)
        sums = np.bincount(np.repeat(np.arange(rows.shape[0]), counts), residual, rows.shape[0])
        b_user = sums / (self.reg_user + counts)
        return np.column_stack([b_user, np.ones(rows.shape[0])]).astype(np.float32)


@dataclass
class MatrixFactorization(Algorithm):
    """rating ~ mean + b_u + b_i + p_u . q_i, by alternating least squares: with the items fixed each
    user's [p_u, b_u] is a ridge regression on their ratings, and the other way round. The
    regularisation grows with a user's (item's) number of ratings (ALS-WR, Zhou et al. 2008).
    Vectors are [p_u, b_u, 1] against items' [q_i, 1, b_i], so scores are one product."""

    name: ClassVar[str] = "mf"
    rates: ClassVar[bool] = True
    factors: int = 16
    regularization: float = 0.1
    bias_regularization: float = 5.0
    iterations: int = 10

    def fit(self, matrix: sparse.csr_matrix, seed: int) -> np.ndarray:
        if matrix.nnz == 0:
            raise ValueError("matrix factorisation needs ratings")
        rng = np.random.default_rng(seed)
        n_users, n_items = matrix.shape
        self.offset = float(matrix.data.mean())
        centred = matrix.copy().astype(np.float64)
        centred.data -= self.offset
        by_item = centred.T.tocsr()
        q = np.column_stack([rng.normal(0, 0.1, (n_items, self.factors)), np.ones(n_items), np.zeros(n_items)])
        for _ in range(self.iterations):
            p = self._solve(centred, q)                       # [p_u, b_u]
            users = np.column_stack([p, np.ones(n_users)])    # [p_u, b_u, 1]
            q = self._solve(by_item, users[:, [*range(self.factors), self.factors + 1, self.factors]])
            q = np.column_stack([q[:, :self.factors], np.ones(n_items), q[:, self.factors]])  # [q_i, 1, b_i]
        self.item_matrix = q.astype(np.float32)
        return self.fold_in(matrix)

    def fold_in(self, rows: sparse.csr_matrix) -> np.ndarray:
        centred = sparse.csr_matrix(rows, dtype=np.float64)
        centred.data = centred.data - self.offset
        p = self._solve(centred, self.item_matrix.astype(np.float64))
        return np.column_stack([p, np.ones(rows.shape[0])]).astype(np.float32)

    def _solve(self, rows: sparse.csr_matrix, other: np.ndarray) -> np.ndarray:
        """For each row r: [x, b] minimising sum (r_j - x . o_j - b - c_j)^2 + reg terms, where
        `other` holds [o_j, 1, c_j] (c_j: the other side's bias, a fixed offset)."""
        f = self.factors
        design, fixed = other[:, :f + 1], other[:, f + 1]
        reg = np.full(f + 1, self.regularization)
        out = np.zeros((rows.shape[0], f + 1))
        counts = np.diff(rows.indptr)
        for start in range(0, rows.shape[0], SOLVE_BATCH):
            stop = min(start + SOLVE_BATCH, rows.shape[0])
            gram = np.zeros((stop - start, f + 1, f + 1))
            rhs = np.zeros((stop - start, f + 1))
            for k, r in enumerate(range(start, stop)):
                cols = rows.indices[rows.indptr[r]:rows.indptr[r + 1]]
                if len(cols) == 0:
                    continue
                o = design[cols]
                gram[k] = o.T @ o
                rhs[k] = o.T @ (rows.data[rows.indptr[r]:rows.indptr[r + 1]] - fixed[cols])
            n = counts[start:stop, None]
            penalty = np.where(np.arange(f + 1) < f, reg * np.maximum(n, 1), self.bias_regularization)
            gram[:, np.arange(f + 1), np.arange(f + 1)] += penalty
            out[start:stop] = np.linalg.solve(gram, rhs[..., None])[..., 0]
        return out

    def similar_to(self, item: int) -> np.ndarray:
        return cosine_to(self.item_matrix[:, :self.factors], item)


@dataclass
class AlternatingLeastSquares(Algorithm):
    """Implicit-feedback ALS from the `implicit` library: every rated item is a positive with
    confidence 1 + alpha, every other a weak negative; scores rank, they are not ratings."""

    name: ClassVar[str] = "als"
    factors: int = 32
    regularization: float = 20.0
    alpha: float = 5.0
    iterations: int = 15
    model: Any = field(default=None, repr=False)

    def fit(self, matrix: sparse.csr_matrix, seed: int) -> np.ndarray:
        try:
            from implicit.cpu.als import AlternatingLeastSquares as Als
        except ImportError:
            from mlflow_cli.core.errors import ConfigError

            raise ConfigError("train.model als needs the implicit library, which is not installed.",
                              hint="pip install 'mlw[recommend]' (or train.model: ease).") from None
        with _one_blas_thread():
            self.model = Als(factors=self.factors, regularization=self.regularization, alpha=self.alpha,
                             iterations=self.iterations, random_state=seed, num_threads=0)
            self.model.fit(_binary(matrix), show_progress=False)
        self.item_matrix = np.asarray(self.model.item_factors)
        return np.asarray(self.model.user_factors)

    def fold_in(self, rows: sparse.csr_matrix) -> np.ndarray:
        with _one_blas_thread():
            return np.asarray(self.model.recalculate_user(np.arange(rows.shape[0]), _binary(rows))).reshape(
                rows.shape[0], -1)

    def similar_to(self, item: int) -> np.ndarray:
        return cosine_to(self.item_matrix, item)


@dataclass
class Ease(Algorithm):
    """EASE: item weights B = I - P / diag(P), P = (X'X + lambda I)^-1 on the binary matrix X, diagonal
    zero; a user's scores are their interactions times B. One solve, no iterations, no seed."""

    name: ClassVar[str] = "ease"
    regularization: float = 250.0

    def fit(self, matrix: sparse.csr_matrix, seed: int) -> sparse.csr_matrix:
        n_items = matrix.shape[1]
        if n_items > EASE_MAX_ITEMS:
            raise ValueError(f"ease keeps an item x item matrix, so it takes at most {EASE_MAX_ITEMS:,} items; "
                             f"these data have {n_items:,}")
        x = _binary(matrix)
        gram = np.asarray((x.T @ x).todense(), dtype=np.float64)
        gram[np.diag_indices(n_items)] += self.regularization
        inverse = np.linalg.inv(gram)
        weights = -inverse / np.diag(inverse)
        weights[np.diag_indices(n_items)] = 0.0
        self.item_matrix = weights.T.astype(np.float32)       # scores = X @ B = X @ item_matrix.T
        return x

    def fold_in(self, rows: sparse.csr_matrix) -> sparse.csr_matrix:
        return _binary(rows)

    def similar_to(self, item: int) -> np.ndarray:
        return self.item_matrix[:, item].copy()          # B[item, :]: what having seen `item` adds


ALGORITHMS: dict[str, type[Algorithm]] = {a.name: a for a in (Popularity, Bias, MatrixFactorization,
                                                             AlternatingLeastSquares, Ease)}


def _binary(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    ones = sparse.csr_matrix(matrix, dtype=np.float32, copy=True)
    ones.data[:] = 1.0
    return ones


class _one_blas_thread:
    """`implicit` asks for single-threaded BLAS (its own threads do the parallel work)."""

    def __enter__(self) -> None:
        from threadpoolctl import threadpool_limits

        self._limits = threadpool_limits(1, "blas")

    def __exit__(self, *exc: Any) -> None:
        self._limits.unregister()
