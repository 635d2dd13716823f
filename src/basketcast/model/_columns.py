"""The model stage's view of a feature frame: which columns are ids, which are features."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import polars as pl

__all__ = [
    "CHUNK_ROWS",
    "ID_COLUMNS",
    "feature_chunks",
    "feature_matrix",
    "feature_names",
    "id_columns",
    "stack_features",
]

ID_COLUMNS: tuple[str, ...] = ("order_id", "user_id", "product_id", "depth", "label")
"""Columns that are never features; `product_id` is absent from the order-level (None) frame."""

_REQUIRED = ("order_id", "user_id", "depth", "label")


def feature_names(frame: pl.DataFrame) -> list[str]:
    """Every column of ``frame`` that is not an id column, in frame order."""
    return [c for c in frame.columns if c not in ID_COLUMNS]


def id_columns(frame: pl.DataFrame) -> list[str]:
    """The key columns present in ``frame`` (``label`` excluded), in contract order."""
    return [c for c in ID_COLUMNS if c in frame.columns and c != "label"]


def check_frame(frame: pl.DataFrame, *, what: str = "feature frame") -> list[str]:
    """Validate the id columns and feature dtypes; return the feature names.

    Raises
    ------
    ValueError
        Naming the missing columns, the non-numeric features, or the bad labels.
    """
    missing = [c for c in _REQUIRED if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks the id column(s) {missing}; it has {frame.columns[:10]}")
    names = feature_names(frame)
    if not names:
        raise ValueError(f"{what} has no feature columns")
    bad = [f"{c} ({frame.schema[c]})" for c in names if not frame.schema[c].is_numeric()]
    if bad:
        raise ValueError(f"{what}: feature columns must be numeric (Float32), got {bad[:5]}")
    for key in ("user_id", "depth"):
        nulls = frame[key].null_count()
        if nulls:
            raise ValueError(f"{what}: column {key} has {nulls} null values")
    labels = frame["label"].drop_nulls()
    wrong = labels.filter(~labels.is_in([0, 1]))
    if len(wrong):
        raise ValueError(
            f"{what}: column label must be 0, 1 or null; {len(wrong)} rows hold other values, "
            f"e.g. {wrong.unique().head(5).to_list()}"
        )
    return names


CHUNK_ROWS = 1 << 20
"""Rows per chunk when a matrix is streamed: ~250 MB of float32 at 60 features."""


def feature_chunks(
    frame: pl.DataFrame, names: list[str], rows: np.ndarray, *, chunk: int = CHUNK_ROWS
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(row indices, float32 matrix) for successive chunks of ``rows``.

    Only one chunk is materialised at a time, so a model can be fed from a
    feature frame without a full float32 copy of it (at full Instacart scale
    that copy alone is several GB).
    """
    features = frame.select(names)
    for start in range(0, len(rows), chunk):
        index = rows[start : start + chunk]
        yield index, feature_matrix(features[index], names)


def feature_matrix(frame: pl.DataFrame, names: list[str]) -> np.ndarray:
    """The ``names`` columns as one float32 matrix, nulls as NaN (XGBoost's missing value)."""
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise ValueError(
            f"the frame lacks {len(missing)} feature column(s) the model needs, e.g. {missing[:5]}"
        )
    matrix = frame.select(pl.col(names).cast(pl.Float32)).to_numpy()
    return np.asarray(matrix, dtype=np.float32)


def stack_features(frame: pl.DataFrame, names: list[str], xp: Any = np) -> Any:
    """Every row's features as one C-ordered float32 matrix of array module ``xp`` (NumPy, CuPy).

    Filled chunk by chunk: beside the frame and the result, only one chunk is
    ever converted at a time (with CuPy, the result lives on the GPU).
    """
    out = xp.empty((len(frame), len(names)), dtype=xp.float32)
    features = frame.select(names)
    for start in range(0, len(frame), CHUNK_ROWS):
        part = features.slice(start, CHUNK_ROWS)
        out[start : start + part.height] = xp.asarray(feature_matrix(part, names))
    return out
