"""A ranking baseline's scores → baskets: top-k, or calibrated probabilities + the F1 maximiser.

Both are fitted on train orders only (their truth from the history):

- **top-k**: the basket is the order's `k` best-scored items (fewer if it has
  fewer; ``None`` if it has none), with `k` the best mean F1 on train orders
  over `K_GRID`;
- **calibrated**: the scores are mapped to probabilities by an isotonic
  regression of "the item is in the target" on the score, fitted on the train
  orders' scored items; the probabilities then go through basketcast's
  expected-F1 selection (``p_none = prod(1 − p)``), as our own model's do.

The F1 truth holds reorders only, so an item the user never bought can only
lower F1; the baskets are drawn from what the scores rank, whatever it holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.optimize import isotonic_regression

from basketcast.basket import select_baskets
from basketcast.data.schema import ID
from basketcast.evaluate.baselines import _flatten
from basketcast.evaluate.metric import _token_sets
from basketcast.evaluate.reading import NONE_TOKEN
from basketcast.evaluate.targets import _to_submission

__all__ = [
    "K_GRID",
    "Calibrator",
    "calibrated_baskets",
    "fit_calibrator",
    "top_k_baskets",
    "top_k_f1",
    "truth_items",
    "tune_top_k",
]

K_GRID: tuple[int, ...] = tuple(range(1, 31))
"""Basket sizes tried for top-k (Instacart's mean basket is about 10 items, repeats about 6)."""


def truth_items(truth: pl.DataFrame) -> pl.DataFrame:
    """``order_id, product_id`` of every product in a truth frame (``None`` orders add no row)."""
    return _truth_items(truth)[0]


def _truth_items(truth: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(order_id, product_id) of every true product, and per order (sorted) n_true and is_none."""
    sets = truth.select("order_id", tokens=_token_sets(pl.col("products"))).sort("order_id")
    per_order = sets.select(
        "order_id",
        n_true=pl.col("tokens").list.len(),
        is_none=pl.col("tokens").list.contains(NONE_TOKEN),
    )
    ids = sets.select("order_id", row=pl.int_range(pl.len(), dtype=pl.Int64))
    items = (
        _flatten(sets.get_column("tokens"))
        .filter(pl.col("token") != NONE_TOKEN)
        .join(ids, on="row")
        .select("order_id", product_id=pl.col("token").cast(ID))
    )
    return items, per_order


def top_k_f1(
    scores: pl.DataFrame, truth: pl.DataFrame, *, ks: Sequence[int] = K_GRID
) -> np.ndarray:
    """Mean F1 over the truth's orders of the top-k basket, for every k in `ks`, in one pass.

    `scores`: ``order_id, product_id, score``; `truth`: ``order_id, products``
    (normalised token strings, as `truth_from_dataset` writes). An order with
    no scored item gets ``None``, which scores 1 exactly when the truth is ``None``.
    """
    items, per_order = _truth_items(truth)
    k_max = max(ks)
    index = per_order.select("order_id", row=pl.int_range(pl.len(), dtype=pl.Int64))
    ranked = (
        scores.join(index, on="order_id")
        .sort(["row", "score", "product_id"], descending=[False, True, False])
        .with_columns(rank=pl.int_range(pl.len()).over("row"))
        .filter(pl.col("rank") < k_max)
        .join(items.with_columns(hit=pl.lit(1)), on=["order_id", "product_id"], how="left")
        .with_columns(hits=pl.col("hit").fill_null(0).cum_sum().over("row"))
    )
    n = per_order.height
    row = ranked.get_column("row").to_numpy()
    rank = ranked.get_column("rank").to_numpy()
    hits = np.zeros((n, k_max))
    size = np.zeros((n, k_max))
    hits[row, rank] = ranked.get_column("hits").to_numpy()
    size[row, rank] = rank + 1
    # Past an order's last item the basket stops growing: carry its last counts forward.
    hits, size = np.maximum.accumulate(hits, axis=1), np.maximum.accumulate(size, axis=1)
    n_true = per_order.get_column("n_true").to_numpy()[:, None]
    none = per_order.get_column("is_none").to_numpy()[:, None].astype(np.float64)
    f1 = np.where(size > 0, 2.0 * hits / np.maximum(size + n_true, 1), none)
    return f1.mean(axis=0)[np.asarray(ks) - 1]


def tune_top_k(scores: pl.DataFrame, truth: pl.DataFrame, *, ks: Sequence[int] = K_GRID) -> int:
    """The k of `ks` with the best `top_k_f1` on the truth's orders (ties: the smallest)."""
    return int(np.asarray(ks)[int(np.argmax(top_k_f1(scores, truth, ks=ks)))])


def top_k_baskets(scores: pl.DataFrame, targets: pl.DataFrame, k: int) -> pl.DataFrame:
    """Submission (``order_id, products``) of the `k` best-scored items of every target order."""
    best = (
        scores.sort(["order_id", "score", "product_id"], descending=[False, True, False])
        .group_by("order_id", maintain_order=True)
        .head(k)
    )
    return _to_submission(targets, best, sort_by=["score", "product_id"], descending=[True, False])


@dataclass(frozen=True)
class Calibrator:
    """An isotonic map from score to probability: a step function through (x, y), interpolated."""

    x: np.ndarray
    y: np.ndarray

    def __call__(self, score: np.ndarray) -> np.ndarray:
        return np.clip(np.interp(score, self.x, self.y), 0.0, 1.0)


def fit_calibrator(scores: pl.DataFrame, truth: pl.DataFrame) -> Calibrator:
    """Isotonic regression of "the item is in the target basket" on the score, over train orders.

    `scores` rows of orders outside `truth` are ignored.
    """
    items, per_order = _truth_items(truth)
    rows = scores.join(per_order.select("order_id"), on="order_id", how="semi").join(
        items.with_columns(hit=pl.lit(1.0)), on=["order_id", "product_id"], how="left"
    )
    if rows.is_empty():
        raise ValueError("no scored item in the calibration orders")
    grouped = (
        rows.group_by("score")
        .agg(hits=pl.col("hit").fill_null(0.0).sum(), n=pl.len())
        .sort("score")
    )
    n = grouped.get_column("n").to_numpy().astype(np.float64)
    rate = grouped.get_column("hits").to_numpy() / n
    fitted = isotonic_regression(rate, weights=n, increasing=True).x
    return Calibrator(x=grouped.get_column("score").to_numpy(), y=fitted)


def calibrated_baskets(
    scores: pl.DataFrame, targets: pl.DataFrame, calibrator: Calibrator
) -> pl.DataFrame:
    """Expected-F1-optimal baskets of the calibrated scores; ``None`` for orders with no item."""
    probs = _probabilities(scores, targets, calibrator)
    baskets = select_baskets(probs).select("order_id", "products")
    return (
        targets.select("order_id")
        .join(baskets, on="order_id", how="left")
        .with_columns(pl.col("products").fill_null(NONE_TOKEN))
        .sort("order_id")
    )


def _probabilities(
    scores: pl.DataFrame, targets: pl.DataFrame, calibrator: Calibrator
) -> pl.DataFrame:
    rows = scores.join(targets.select("order_id"), on="order_id", how="semi")
    p = calibrator(rows.get_column("score").to_numpy())
    return rows.select("order_id", "product_id").with_columns(p=pl.Series(p, dtype=pl.Float64))
