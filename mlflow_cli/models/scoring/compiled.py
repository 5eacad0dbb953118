"""prepare's fitted preprocessing as plain numpy operations, bit for bit scikit-learn's.

For small frames (one HTTP request) scikit-learn's per-call overhead dominates: a
ColumnTransformer costs ~10 ms for one row. `compile_preprocessor` turns `TypeCoercer ->
ColumnTransformer` into numpy work when every branch is one it understands: imputation and
scaling of numbers, applied with the very operations scikit-learn performs, in its order
(`X -= mean; X /= scale` for StandardScaler and RobustScaler, `X *= scale; X += min` for
MinMaxScaler), and imputation plus one-hot, ordinal or target encoding of categories,
tabulated with scikit-learn itself at compile time. The compiled form is used only when it
gives exactly scikit-learn's features on probe rows; anything else (text, dates, missing
indicators) keeps the scikit-learn path.

`numeric_block` is the numbers arithmetic, shared with the XGBoost scoring bundle
(bundle.py), which must not import pandas or scikit-learn: this module imports them only
inside the functions that compile or take a frame.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

SUBTRACT, DIVIDE, MULTIPLY, ADD = "subtract", "divide", "multiply", "add"
_IN_PLACE = {SUBTRACT: np.subtract, DIVIDE: np.divide, MULTIPLY: np.multiply, ADD: np.add}


def numeric_block(x: np.ndarray, fill: np.ndarray | None, operations: Sequence[tuple[str, np.ndarray]]) -> np.ndarray:
    """Impute then scale a float block in place, as SimpleImputer and the scalers do."""
    if fill is not None:
        np.copyto(x, fill, where=np.isnan(x) & ~np.isnan(fill))
    for name, operand in operations:
        _IN_PLACE[name](x, operand, out=x)
    return x


@dataclass
class NumericBranch:
    columns: list[str]
    fill: np.ndarray | None  # imputation values (NaN: none for that column)
    operations: list[tuple[str, np.ndarray]]


@dataclass
class TableBranch:
    columns: list[str]
    tables: list[dict[Any, np.ndarray]]  # per column: value -> output block
    unseen: list[np.ndarray]             # per column: the block of a value not in the table
    missing: list[np.ndarray]            # per column: the block of a missing value


class CompiledPreprocessor:
    """A fitted preprocessing pipeline as numpy operations (see the module docstring)."""

    def __init__(self, kinds: dict[str, str], branches: list[NumericBranch | TableBranch], sparse: bool) -> None:
        self.kinds, self.branches, self.sparse = kinds, branches, sparse

    @property
    def vectorized(self) -> bool:
        """Numbers only: whole-column numpy work, faster than scikit-learn at any size (category
        tables are looked up value by value, which only pays on small frames)."""
        return all(isinstance(branch, NumericBranch) for branch in self.branches)

    def transform(self, frame: Any) -> Any:
        """Raw records in a pandas frame (strings are coerced as TypeCoercer does)."""
        from mlflow_cli.data.coerce import coerce_column

        return self._assemble(len(frame), lambda c: _frame_numbers(frame[c], self.kinds[c]),
                              lambda c: coerce_column(frame[c], "categorical"))

    def transform_columns(self, columns: Mapping[str, Sequence[Any]], n: int) -> Any:
        """Column lists of JSON values that already have their kind's type (numbers or booleans,
        strings for categories, None for missing), or float arrays: no pandas on the way.
        `data/validation/fast.py: columns_certainly_valid` says when a request qualifies."""
        return self._assemble(n, lambda c: _json_numbers(columns[c], self.kinds[c]), lambda c: columns[c])

    def _assemble(self, n: int, numbers: Callable[[str], np.ndarray], labels: Callable[[str], Any]) -> Any:
        blocks = []
        for branch in self.branches:
            if isinstance(branch, NumericBranch):
                x = np.empty((n, len(branch.columns)), dtype=float)  # one allocation, then in place
                for j, column in enumerate(branch.columns):
                    x[:, j] = numbers(column)
                blocks.append(numeric_block(x, branch.fill, branch.operations))
                continue
            for j, column in enumerate(branch.columns):
                table, unseen, missing = branch.tables[j], branch.unseen[j], branch.missing[j]
                rows = [table.get(value, unseen) if isinstance(value, str) else missing for value in labels(column)]
                blocks.append(np.vstack(rows) if rows else np.zeros((0, len(unseen))))
        out = blocks[0] if len(blocks) == 1 else np.hstack(blocks) if blocks else np.zeros((n, 0))
        if self.sparse:
            from scipy import sparse

            return sparse.csr_matrix(out)
        return out


def _json_numbers(values: Sequence[Any], kind: str) -> np.ndarray:
    """Numbers, booleans, or (boolean columns) words such as yes/no; None for missing; as floats."""
    if kind == "boolean" and any(isinstance(v, str) for v in values):
        from mlflow_cli.data.tokens import BOOLEAN_TOKENS

        values = [BOOLEAN_TOKENS[v.strip().lower()] if isinstance(v, str) else v for v in values]
    return np.asarray(values, dtype=float)


def _frame_numbers(values: Any, kind: str) -> np.ndarray:
    import pandas as pd

    from mlflow_cli.data.coerce import coerce_column

    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=float, na_value=np.nan)
    return coerce_column(values, kind).to_numpy(dtype=float, na_value=np.nan)


# --------------------------------------------------------------------------- compiling


def compile_preprocessor(preprocessor: Any, schema: dict[str, Any]) -> CompiledPreprocessor | None:
    """The compiled form of `TypeCoercer -> ColumnTransformer`, or None when a branch is not
    supported or the compiled output is not exactly scikit-learn's on probe rows."""
    from mlflow_cli.models.scoring.pipeline import fitted_branches

    try:
        found = fitted_branches(preprocessor)
        if found is None:
            return None
        coercer, transformer, parts_by_branch = found
        kinds = dict(coercer.kinds or {})
        branches = []
        for columns, parts in parts_by_branch:
            branch = _compile_branch(parts, columns, kinds)
            if branch is None:
                return None
            branches.append(branch)
        compiled = CompiledPreprocessor(kinds, branches, bool(getattr(transformer, "sparse_output_", False)))
        return compiled if _agrees(compiled, preprocessor, schema) else None
    except Exception:  # compiling is an optimisation: any surprise means the scikit-learn path
        return None


def numeric_operations(parts: list[Any], width: int) -> tuple[np.ndarray | None, list[tuple[str, np.ndarray]]] | None:
    """(fill values, scaling operations) for a branch of numbers made of an optional leading
    SimpleImputer and scalers, in scikit-learn's order; None for any other step."""
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

    fill, operations = None, []
    for position, part in enumerate(parts):
        if isinstance(part, SimpleImputer) and not part.add_indicator and position == 0:
            fill = np.asarray(part.statistics_, dtype=float)
            if len(fill) != width:
                return None
        elif isinstance(part, StandardScaler):
            operations += [(SUBTRACT, np.asarray(part.mean_, dtype=float))] if part.with_mean else []
            operations += [(DIVIDE, np.asarray(part.scale_, dtype=float))] if part.with_std else []
        elif isinstance(part, RobustScaler):
            operations += [(SUBTRACT, np.asarray(part.center_, dtype=float))] if part.with_centering else []
            operations += [(DIVIDE, np.asarray(part.scale_, dtype=float))] if part.with_scaling else []
        elif isinstance(part, MinMaxScaler) and not part.clip:
            operations += [(MULTIPLY, np.asarray(part.scale_, dtype=float)), (ADD, np.asarray(part.min_, dtype=float))]
        else:
            return None
    return fill, operations


def _compile_branch(parts: list[Any], columns: list[str], kinds: dict[str, str]) -> NumericBranch | TableBranch | None:
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, TargetEncoder

    if all(kinds.get(c) in ("numeric", "boolean") for c in columns):
        found = numeric_operations(parts, len(columns))
        return None if found is None else NumericBranch(columns, *found)
    if not all(kinds.get(c) == "categorical" for c in columns) or not parts:
        return None
    encoder = parts[-1]
    imputers = parts[:-1]
    if not isinstance(encoder, (OneHotEncoder, OrdinalEncoder, TargetEncoder)) or len(imputers) > 1:
        return None
    if imputers and (not isinstance(imputers[0], SimpleImputer) or imputers[0].add_indicator):
        return None
    return _tabulate(parts, columns, encoder)


def _tabulate(parts: list[Any], columns: list[str], encoder: Any) -> TableBranch | None:
    """For each column, the encoded block of every known category (and of an unseen value and
    a missing one), computed by the fitted scikit-learn steps themselves."""
    import pandas as pd

    categories = [list(c) for c in encoder.categories_]
    widths = _block_widths(encoder, len(columns))
    if widths is None:
        return None
    offsets = np.cumsum([0] + widths)
    tables, unseen_blocks, missing_blocks = [], [], []
    base = [c[0] for c in categories]
    for j in range(len(columns)):
        probes = [str(v) for v in categories[j]] + ["\x00mlw-unseen\x00", np.nan]
        frame = pd.DataFrame({col: [base[i]] * len(probes) for i, col in enumerate(columns)}, dtype=object)
        frame[columns[j]] = pd.Series(probes, dtype=object)
        out = frame
        for part in parts:
            out = part.transform(out)
        out = out.toarray() if hasattr(out, "toarray") else np.asarray(out, dtype=float)
        block = out[:, offsets[j]:offsets[j + 1]]
        tables.append({value: block[i] for i, value in enumerate(probes[:-2])})
        unseen_blocks.append(block[-2])
        missing_blocks.append(block[-1])
    return TableBranch(columns, tables, unseen_blocks, missing_blocks)


def _block_widths(encoder: Any, n: int) -> list[int] | None:
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    if isinstance(encoder, OneHotEncoder):
        widths = getattr(encoder, "_n_features_outs", None)
        return list(widths) if widths is not None and len(widths) == n else None
    if isinstance(encoder, OrdinalEncoder):
        return [1] * n
    classes = getattr(encoder, "classes_", None)  # TargetEncoder: one column per class when multiclass
    per = len(classes) if classes is not None and getattr(encoder, "target_type_", "") == "multiclass" else 1
    return [per] * n


def _agrees(compiled: CompiledPreprocessor, preprocessor: Any, schema: dict[str, Any]) -> bool:
    """Probe rows (typical values, range ends, missing, unseen) give exactly the same features
    every way: scikit-learn on the frame, the compiled form on the frame, and on the column lists."""
    import pandas as pd

    rows = _probe_rows(schema)
    frame = pd.DataFrame(rows)
    columns = {name: [row[name] for row in rows] for name in schema["columns"]}
    theirs = dense(preprocessor.transform(frame))
    return all(ours.shape == theirs.shape and np.array_equal(ours, theirs, equal_nan=True)
               for ours in (dense(compiled.transform(frame)), dense(compiled.transform_columns(columns, len(rows)))))


def dense(features: Any) -> np.ndarray:
    return features.toarray() if hasattr(features, "toarray") else np.asarray(features, dtype=float)


def _probe_rows(schema: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [{}, {}, {}, {}]
    for name, spec in schema["columns"].items():
        kind = spec["kind"]
        if kind == "numeric":
            lo, hi = spec.get("min", 0.0), spec.get("max", 1.0)
            values = [lo, hi, (lo + hi) / 2 if None not in (lo, hi) else 0.0, None]
        elif kind == "boolean":
            values = [True, False, True, None]
        elif kind == "categorical":
            cats = spec.get("categories") or ["a"]
            values = [cats[0], cats[-1], "\x00never-seen\x00", None]
        else:
            values = [None] * 4
        for row, value in zip(rows, values):
            row[name] = value
    return rows
