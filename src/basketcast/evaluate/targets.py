"""Target orders, the history before them, and the truth of train orders, from a Dataset."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from basketcast.data.dataset import Dataset
from basketcast.evaluate.reading import NONE_TOKEN

__all__ = ["truth_from_dataset"]


def _targets(dataset: Dataset, eval_set: str | None) -> pl.DataFrame:
    if eval_set not in (None, "train", "test"):
        raise ValueError(f"eval_set must be 'train', 'test' or None (both), got {eval_set!r}")
    targets = dataset.orders.filter(
        pl.col("eval_set") != "prior" if eval_set is None else pl.col("eval_set") == eval_set
    )
    return targets.select("order_id", "user_id", pl.col("order_number").alias("target_number"))


def _history(dataset: Dataset, targets: pl.DataFrame) -> pl.DataFrame:
    """Prior lines of each target's user from orders before the target (order_id = the target)."""
    prior_orders = dataset.orders.filter(pl.col("eval_set") == "prior").select(
        pl.col("order_id").alias("prior_id"), "user_id", "order_number"
    )
    lines = dataset.prior.select(
        pl.col("order_id").alias("prior_id"), "product_id", "add_to_cart_order"
    )
    return (
        targets.join(prior_orders, on="user_id")
        .filter(pl.col("order_number") < pl.col("target_number"))
        .join(lines, on="prior_id")
    )


def _to_submission(
    targets: pl.DataFrame,
    chosen: pl.DataFrame,
    *,
    sort_by: Sequence[str],
    descending: Sequence[bool],
) -> pl.DataFrame:
    """``chosen`` (order_id, product_id, sort keys) → one row per target, ``None`` when empty."""
    joined = (
        chosen.sort(["order_id", *sort_by], descending=[False, *descending])
        .group_by("order_id", maintain_order=True)
        .agg(pl.col("product_id").cast(pl.String).str.join(" ").alias("products"))
    )
    return (
        targets.select("order_id")
        .join(joined, on="order_id", how="left")
        .with_columns(pl.col("products").fill_null(NONE_TOKEN))
        .sort("order_id")
    )


def truth_from_dataset(dataset: Dataset) -> pl.DataFrame:
    """The truth of the train orders, derived from the history.

    Products of each train order that its user bought in an earlier order
    (the ``reordered`` column is not used), in cart order; ``None`` if there
    are none.
    """
    targets = _targets(dataset, "train")
    bought = _history(dataset, targets).select("order_id", "product_id").unique()
    lines = dataset.train.join(targets.select("order_id"), on="order_id").join(
        bought, on=["order_id", "product_id"], how="semi"
    )
    return _to_submission(
        targets, lines, sort_by=["add_to_cart_order", "product_id"], descending=[False, False]
    )
