"""Shared helpers: the detector's columns as a float matrix, and top-feature reasons."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

__all__ = ["matrix", "shap_values", "top_reasons"]


def matrix(features: pl.DataFrame, columns: list[str], *, name: str) -> np.ndarray:
    """The columns as a C-ordered float32 matrix (an error names any missing column)."""
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise ValueError(
            f"{name}: feature frame lacks {len(missing)} column(s), e.g. {missing[:3]}"
        )
    return features.select(columns).cast(pl.Float32).to_numpy().astype(np.float32, order="C")


def shap_values(booster: Any, data: Any, rows: int, columns: int) -> np.ndarray:
    """A booster's SHAP contributions per row and column (the bias column dropped).

    XGBoost returns a flat array for zero rows, so the shape is set here: a period
    with no alerts has no reasons, not an IndexError.
    """
    contribs = np.asarray(booster.predict(data, pred_contribs=True))
    return contribs.reshape(rows, columns + 1)[:, :-1]


def top_reasons(weights: np.ndarray, columns: list[str], top: int) -> list[list[str]]:
    """Per row, the `top` columns with the largest positive weight, as 'name (+w)'."""
    order = np.argsort(-weights, axis=1)[:, :top]
    return [
        [f"{columns[j]} (+{weights[i, j]:.2f})" for j in row if weights[i, j] > 0]
        for i, row in enumerate(order)
    ]
