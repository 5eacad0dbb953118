"""Interactions as a sparse user x item matrix: user and item ids to row and column codes and back,
one value per (user, item) pair (the rating, or 1.0 for an implicit interaction). Every
recommendation model fits on this matrix and scores in its codes. Depends on numpy, pandas, scipy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse


@dataclass
class Interactions:
    users: pd.Index                 # user id at each row code
    items: pd.Index                 # item id at each column code
    matrix: sparse.csr_matrix       # (users, items), float32: the rating, or 1.0 for an interaction

    @classmethod
    def from_columns(cls, users: Any, items: Any, values: Any = None, *, item_index: pd.Index | None = None,
                     user_index: pd.Index | None = None) -> Interactions:
        """The matrix of these (user, item[, value]) rows. With an index given, its codes are kept
        and ids outside it are left out (the caller counts them with `codes`)."""
        user_codes, user_index = _codes(users, user_index)
        item_codes, item_index = _codes(items, item_index)
        keep = (user_codes >= 0) & (item_codes >= 0)
        data = np.ones(int(keep.sum()), np.float32) if values is None else \
            np.asarray(values, np.float32)[keep]
        matrix = sparse.csr_matrix((data, (user_codes[keep], item_codes[keep])),
                                   shape=(len(user_index), len(item_index)), dtype=np.float32)
        matrix.sum_duplicates()
        return cls(user_index, item_index, matrix)

    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape

    def binary(self) -> sparse.csr_matrix:
        """The same pattern with every value 1.0: who interacted with what."""
        ones = self.matrix.copy()
        ones.data[:] = 1.0
        return ones


def _codes(ids: Any, index: pd.Index | None) -> tuple[np.ndarray, pd.Index]:
    values = pd.Index(np.asarray(ids))
    if index is None:
        codes, uniques = pd.factorize(values, sort=True)
        return codes.astype(np.int64), pd.Index(uniques)
    return index.get_indexer(values).astype(np.int64), index


def codes_of(index: pd.Index, ids: Any) -> np.ndarray:
    """Codes of ids in an index, -1 for an id it does not hold."""
    return index.get_indexer(pd.Index(np.asarray(ids))).astype(np.int64)


def row_matrix(items: np.ndarray, values: np.ndarray, n_items: int) -> sparse.csr_matrix:
    """One user's interactions (item codes, values) as a 1 x n_items matrix; an item given twice
    keeps its last value (the newest rating)."""
    items = np.asarray(items, np.int64)
    last = len(items) - 1 - np.unique(items[::-1], return_index=True)[1]
    return sparse.csr_matrix((np.asarray(values, np.float32)[last], (np.zeros(len(last), np.int64), items[last])),
                             shape=(1, n_items), dtype=np.float32)
