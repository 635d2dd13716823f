"""Binary classification metrics in NumPy only (no scikit-learn dependency).

Every function takes array-likes of 0/1 labels ``y`` and probabilities ``p``
of the same length (NumPy arrays, Polars Series, lists) and rejects NaN
probabilities and non-binary labels rather than silently skipping rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

__all__ = ["calibration_table", "expected_calibration_error", "log_loss", "roc_auc"]

_EPS = 1e-15


def _check(y: Any, p: Any) -> tuple[np.ndarray, np.ndarray]:
    y_arr = np.asarray(y)
    p_arr = np.asarray(p, dtype=np.float64)
    if y_arr.ndim != 1 or p_arr.ndim != 1 or len(y_arr) != len(p_arr):
        raise ValueError(
            f"y and p must be 1-d and of equal length, got {y_arr.shape} and {p_arr.shape}"
        )
    if len(y_arr) == 0:
        raise ValueError("y and p are empty")
    if np.isnan(p_arr).any():
        raise ValueError(f"p has {int(np.isnan(p_arr).sum())} NaN values")
    y_float = y_arr.astype(np.float64)
    if not np.isin(y_float, (0.0, 1.0)).all():
        bad = np.unique(y_arr[~np.isin(y_float, (0.0, 1.0))])[:5]
        raise ValueError(f"y must hold only 0 and 1, found e.g. {bad.tolist()}")
    return y_float.astype(np.int8), p_arr


def log_loss(y: Any, p: Any) -> float:
    """Mean binary cross-entropy, with ``p`` clipped to ``[1e-15, 1 - 1e-15]`` (as scikit-learn)."""
    y_arr, p_arr = _check(y, p)
    p_arr = np.clip(p_arr, _EPS, 1 - _EPS)
    return float(-np.mean(np.where(y_arr == 1, np.log(p_arr), np.log1p(-p_arr))))


def roc_auc(y: Any, p: Any) -> float:
    """Exact area under the ROC curve, ties counted as one half.

    Equals the share of (positive, negative) pairs in which the positive has the
    higher score, computed in O(n log n) by grouping equal scores; the pair
    counts are integers, so the result is exact up to the final division.

    Returns
    -------
    float
        The AUC, or NaN when ``y`` holds a single class (the AUC is undefined).
    """
    y_arr, p_arr = _check(y, p)
    values, inverse = np.unique(p_arr, return_inverse=True)
    pos = np.bincount(inverse[y_arr == 1], minlength=len(values)).astype(np.int64)
    neg = np.bincount(inverse[y_arr == 0], minlength=len(values)).astype(np.int64)
    n_pos, n_neg = int(pos.sum()), int(neg.sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    neg_below = np.cumsum(neg) - neg
    # Twice the winning-pair count keeps the tie halves integral.
    twice_wins = int(np.sum(2 * pos * neg_below + pos * neg, dtype=np.int64))
    return twice_wins / (2 * n_pos * n_neg)


def _bin_index(p: np.ndarray, bins: int) -> np.ndarray:
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    if (p < 0).any() or (p > 1).any():
        raise ValueError("p must lie in [0, 1] for calibration")
    # p == 1 belongs to the last bin, not to a bin of its own.
    return np.minimum((p * bins).astype(np.int64), bins - 1)


def calibration_table(y: Any, p: Any, *, bins: int = 10) -> pl.DataFrame:
    """Reliability table over equal-width probability bins, for plots.

    Returns
    -------
    pl.DataFrame
        One row per bin, empty bins included: ``bin`` (Int32), ``lower``,
        ``upper``, ``count`` (Int64), ``mean_p`` and ``mean_y`` (Float64,
        null for an empty bin).
    """
    y_arr, p_arr = _check(y, p)
    idx = _bin_index(p_arr, bins)
    count = np.bincount(idx, minlength=bins)
    sum_p = np.bincount(idx, weights=p_arr, minlength=bins)
    sum_y = np.bincount(idx, weights=y_arr.astype(np.float64), minlength=bins)
    nonempty = count > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.where(nonempty, sum_p / np.maximum(count, 1), np.nan)
        mean_y = np.where(nonempty, sum_y / np.maximum(count, 1), np.nan)
    edges = np.linspace(0.0, 1.0, bins + 1)
    return pl.DataFrame(
        {
            "bin": np.arange(bins, dtype=np.int32),
            "lower": edges[:-1],
            "upper": edges[1:],
            "count": count.astype(np.int64),
            "mean_p": mean_p,
            "mean_y": mean_y,
        }
    ).with_columns(pl.col("mean_p", "mean_y").fill_nan(None))


def expected_calibration_error(y: Any, p: Any, *, bins: int = 10) -> float:
    """Expected calibration error: ``sum_b (n_b / n) * |mean(y_b) - mean(p_b)|`` over equal-width bins."""
    y_arr, p_arr = _check(y, p)
    idx = _bin_index(p_arr, bins)
    count = np.bincount(idx, minlength=bins)
    gap = np.abs(
        np.bincount(idx, weights=y_arr.astype(np.float64), minlength=bins)
        - np.bincount(idx, weights=p_arr, minlength=bins)
    )
    # n_b/n * |sum_y/n_b - sum_p/n_b| = |sum_y - sum_p| / n, so empty bins need no special case.
    return float(gap.sum() / count.sum())
