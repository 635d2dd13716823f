"""Simple baselines of the F1 table: None, repeat the last basket, personal frequency rules.

The next-basket field's ranking baselines (P-TopFreq, GP-TopFreq, TIFU-KNN) live
in `basketcast.evaluate.ranking` and `basketcast.evaluate.tifu_knn`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
import pyarrow.compute as pc

from basketcast.basket import select_baskets
from basketcast.data.dataset import DataError, Dataset
from basketcast.data.schema import ID
from basketcast.evaluate.metric import _order_problems, _token_sets
from basketcast.evaluate.reading import NONE_TOKEN, _normalise, _problems
from basketcast.evaluate.targets import _history, _targets, _to_submission

__all__ = [
    "DEFAULT_THRESHOLDS",
    "baseline_frequency",
    "baseline_frequency_f1",
    "baseline_last_basket",
    "baseline_none",
    "purchase_shares",
    "tune_frequency_threshold",
]

DEFAULT_THRESHOLDS: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(1, 21))


def baseline_none(dataset: Dataset, *, eval_set: str | None = None) -> pl.DataFrame:
    """``None`` for every target order (``eval_set`` ``train``, ``test`` or both)."""
    return (
        _targets(dataset, eval_set)
        .select("order_id", pl.lit(NONE_TOKEN, dtype=pl.String).alias("products"))
        .sort("order_id")
    )


def baseline_last_basket(dataset: Dataset, *, eval_set: str | None = None) -> pl.DataFrame:
    """Repeat the products of each user's last prior order."""
    targets = _targets(dataset, eval_set)
    history = _history(dataset, targets)
    last = history.filter(pl.col("order_number") == pl.col("order_number").max().over("order_id"))
    return _to_submission(
        targets, last, sort_by=["add_to_cart_order", "product_id"], descending=[False, False]
    )


def _shares(dataset: Dataset, targets: pl.DataFrame) -> pl.DataFrame:
    """Per target and product: the share of the user's earlier orders that contained it."""
    n_orders = (
        targets.join(
            dataset.orders.filter(pl.col("eval_set") == "prior").select("user_id", "order_number"),
            on="user_id",
        )
        .filter(pl.col("order_number") < pl.col("target_number"))
        .group_by("order_id")
        .agg(pl.len().alias("n_orders"))
    )
    return (
        _history(dataset, targets)
        .group_by("order_id", "product_id")
        .agg(pl.col("prior_id").n_unique().alias("n_bought"))
        .join(n_orders, on="order_id")
        .select("order_id", "product_id", (pl.col("n_bought") / pl.col("n_orders")).alias("share"))
    )


def purchase_shares(dataset: Dataset) -> pl.DataFrame:
    """Per target order (train and test) and product bought before it: its purchase share.

    ``order_id``, ``product_id``, ``share`` (the share of the user's earlier
    orders that contained the product). The frequency baselines take it as
    ``shares=`` so that several of them compute it once.
    """
    return _shares(dataset, _targets(dataset, None))


def _shares_of(
    dataset: Dataset, targets: pl.DataFrame, shares: pl.DataFrame | None
) -> pl.DataFrame:
    """The shares of `targets`: taken from `purchase_shares` when given (a target's row only
    depends on that target), computed otherwise."""
    if shares is None:
        return _shares(dataset, targets)
    return shares.join(targets.select("order_id"), on="order_id", how="semi")


def _frequency(targets: pl.DataFrame, shares: pl.DataFrame, threshold: float) -> pl.DataFrame:
    chosen = shares.filter(pl.col("share") >= threshold)
    return _to_submission(
        targets, chosen, sort_by=["share", "product_id"], descending=[True, False]
    )


def baseline_frequency(
    dataset: Dataset,
    threshold: float,
    *,
    eval_set: str | None = None,
    shares: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Products the user bought in at least ``threshold`` of their prior orders; ``None`` if empty.

    ``shares``: `purchase_shares` of the dataset, if already computed.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must lie in [0, 1], got {threshold}")
    targets = _targets(dataset, eval_set)
    return _frequency(targets, _shares_of(dataset, targets, shares), threshold)


def tune_frequency_threshold(
    dataset: Dataset,
    truth: pl.DataFrame,
    *,
    grid: Sequence[float] = DEFAULT_THRESHOLDS,
    shares: pl.DataFrame | None = None,
) -> float:
    """The threshold of `baseline_frequency` with the best mean F1 on the truth's (train) orders.

    Ties go to the first threshold of the grid (the smallest of the default grid).
    ``shares``: `purchase_shares` of the dataset, if already computed.
    """
    if not grid:
        raise ValueError("the threshold grid is empty")
    scores = _frequency_scores(dataset, truth, grid, shares)
    return float(grid[int(np.argmax(scores))])


def _frequency_scores(
    dataset: Dataset,
    truth: pl.DataFrame,
    grid: Sequence[float],
    shares: pl.DataFrame | None = None,
) -> np.ndarray:
    """Mean F1 of `baseline_frequency` at every threshold of `grid`, in one pass.

    The same numbers as ``mean_f1(baseline_frequency(dataset, t, eval_set="train"),
    truth, strict=False)`` for each ``t`` (and the same errors), without building
    and parsing one submission per threshold.
    """
    problems = _problems(truth, source="truth", truth=True)
    if problems:
        raise DataError(problems, source="submission / truth")
    truth = _normalise(truth)
    targets = _targets(dataset, "train").join(truth.select("order_id"), on="order_id", how="semi")
    problems = _order_problems(targets, truth, strict=False, sources=("submission", "truth"))
    if problems:
        raise DataError(problems, source="submission / truth")

    # Truth orders in the order mean_f1 averages them (by order_id), with their token sets.
    true = truth.select("order_id", _token_sets(pl.col("products")).alias("true")).sort("order_id")
    n_true = true.get_column("true").list.len().to_numpy().astype(np.int64)
    true_none = true.get_column("true").list.contains(NONE_TOKEN).to_numpy()
    true_products = (
        _flatten(true.get_column("true"))
        .filter(pl.col("token") != NONE_TOKEN)
        .select("row", pl.col("token").cast(ID).alias("product_id"), hit=pl.lit(True))
    )
    # Each candidate product's order (its row in `true`) and whether it is in the truth.
    rows = (
        _shares_of(dataset, targets, shares)
        .join(true.select("order_id", row=pl.int_range(pl.len(), dtype=pl.Int64)), on="order_id")
        .join(true_products, on=["row", "product_id"], how="left")
    )
    thresholds = np.unique(np.asarray(grid, dtype=np.float64))
    predicted, hits = _counts_by_threshold(
        rows.get_column("row").to_numpy(),
        rows.get_column("share").to_numpy(),
        rows.get_column("hit").fill_null(False).to_numpy(),
        thresholds,
        n_orders=true.height,
    )
    # An empty basket is submitted as None: it scores 1 exactly when the truth is None.
    n_true, true_none = n_true[:, None], true_none[:, None]
    f1 = np.where(predicted > 0, 2.0 * hits / (predicted + n_true), true_none.astype(np.float64))
    # Polars' mean, as mean_f1 takes it, so that the numbers are identical to the last bit.
    means = np.array([pl.Series(column).mean() for column in f1.T], dtype=np.float64)
    return means[np.searchsorted(thresholds, np.asarray(grid, dtype=np.float64))]


def _flatten(lists: pl.Series) -> pl.DataFrame:
    """One row per list element: ``row`` (the index of its list) and ``token``."""
    # Through Arrow, not Polars' explode: its empty-list default is deprecated, and the
    # flag that pins it needs Polars 1.36 (we support 1.30).
    arrow = lists.to_arrow(compat_level=pl.CompatLevel.oldest())
    return pl.DataFrame({"row": pc.list_parent_indices(arrow), "token": pc.list_flatten(arrow)})


def _counts_by_threshold(
    row: np.ndarray, share: np.ndarray, hit: np.ndarray, thresholds: np.ndarray, *, n_orders: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per order (`row`) and sorted threshold: products with ``share >= threshold``, and hits.

    Each product falls in the bucket of the thresholds it reaches; the counts at
    a threshold are then the cumulative sums over that and higher buckets.
    """
    buckets = len(thresholds) + 1
    reached = np.searchsorted(thresholds, share, side="right")  # thresholds <= share
    cell = row * buckets + reached
    size = n_orders * buckets

    def at_or_above(weights: np.ndarray | None) -> np.ndarray:
        counts = np.bincount(cell, weights=weights, minlength=size).reshape(n_orders, buckets)
        above = np.cumsum(counts[:, ::-1], axis=1)[:, ::-1]
        # Bucket b: products reaching exactly the b lowest thresholds; threshold i counts b > i.
        return above[:, 1:].astype(np.int64)

    return at_or_above(None), at_or_above(hit.astype(np.float64))


def baseline_frequency_f1(
    dataset: Dataset, *, eval_set: str | None = None, shares: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Purchase shares taken as probabilities, with ``p_none = prod(1 - p)``, fed to the F1 maximiser.

    ``shares``: `purchase_shares` of the dataset, if already computed.
    """
    targets = _targets(dataset, eval_set)
    probs = _shares_of(dataset, targets, shares).select(
        "order_id", "product_id", pl.col("share").alias("p")
    )
    baskets = select_baskets(probs).select("order_id", "products")
    return (
        targets.select("order_id")
        .join(baskets, on="order_id", how="left")
        .with_columns(pl.col("products").fill_null(NONE_TOKEN))
        .sort("order_id")
    )
