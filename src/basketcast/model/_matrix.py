"""Feature frames as float32 matrices, chunk by chunk (the model stage's side of `basketcast.frame`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import polars as pl

__all__ = ["CHUNK_ROWS", "feature_chunks", "feature_matrix", "stack_features"]

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
