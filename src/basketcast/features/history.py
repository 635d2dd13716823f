"""The inputs every feature family reads, cut at a target so nothing later can leak in.

A *target* is the order whose basket we predict: depth 0 is each user's real
train/test order, depth k is the user's k-th-from-last prior order, used as an
extra training target. For a target with order number n, the visible history
is the user's orders 1..n-1 and their lines; product-wide statistics come from
every user's history cut at that user's own target of the same depth.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import polars as pl

from basketcast.data.dataset import Dataset

__all__ = ["History", "cut_history", "for_targets", "timeline"]


@dataclass(frozen=True)
class History:
    """What is visible for the targets of one depth (all lazy).

    orders:  user_id, order_id, order_number, order_dow, order_hour_of_day,
             days_since_prior_order, day, basket_size, reorders   (history orders)
    lines:   user_id, order_id, order_number, product_id, add_to_cart_order,
             order_dow, order_hour_of_day, day, basket_size, is_reorder
             (materialised, sorted by user_id, product_id, order_number)
    targets: order_id, user_id, order_number, order_dow, order_hour_of_day,
             days_since_prior_order, day   (one row per target order)
    products: product_id, aisle_id, department_id, or None
    """

    depth: int
    orders: pl.LazyFrame
    lines: pl.LazyFrame
    targets: pl.LazyFrame
    products: pl.LazyFrame | None


def timeline(orders: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """Orders with `day`: days since the user's first order (gaps summed, first order = day 0)."""
    return (
        orders.lazy()
        .sort("user_id", "order_number")
        .with_columns(
            day=pl.col("days_since_prior_order")
            .fill_null(0)
            .cum_sum()
            .over("user_id")
            .cast(pl.Float32),
            last_number=pl.col("order_number").max().over("user_id"),
        )
    )


def cut_history(dataset: Dataset, depth: int) -> History:
    """The history visible to the targets at `depth` (0 = the real train/test orders)."""
    orders = timeline(dataset.orders)
    target_number = pl.col("last_number") - depth
    # A target needs at least one earlier order to have candidates.
    targets = orders.filter((pl.col("order_number") == target_number) & (target_number >= 2))
    visible = orders.filter(pl.col("order_number") < target_number)

    line_cols = ["order_id", "product_id", "add_to_cart_order"]
    lines = (
        dataset.prior.lazy()
        .select(line_cols)
        .join(
            visible.select(
                "order_id", "user_id", "order_number", "order_dow", "order_hour_of_day", "day"
            ),
            on="order_id",
            how="inner",
        )
        .with_columns(basket_size=pl.len().over("order_id").cast(pl.Int32))
        .sort("user_id", "product_id", "order_number")
        # A line is a reorder when the user bought the product in an earlier order (the row
        # above, once sorted): derived from the history, never from the `reordered` column.
        .with_columns(
            is_reorder=(
                (pl.col("user_id") == pl.col("user_id").shift(1))
                & (pl.col("product_id") == pl.col("product_id").shift(1))
            )
            .fill_null(False)
            .cast(pl.Int8)
        )
        # Every feature family reads these lines: compute them once, not once per family.
        .collect()
        .lazy()
    )
    per_order = lines.group_by("order_id").agg(
        basket_size=pl.len().cast(pl.Int32), reorders=pl.col("is_reorder").sum().cast(pl.Int32)
    )
    history_orders = (
        visible.join(per_order, on="order_id", how="left")
        .with_columns(pl.col("basket_size").fill_null(0), pl.col("reorders").fill_null(0))
        .collect()
        .lazy()
    )
    products = None
    if dataset.products is not None:
        products = dataset.products.lazy().select("product_id", "aisle_id", "department_id")
    return History(
        depth=depth,
        orders=history_orders.drop("last_number"),
        lines=lines,
        targets=targets.drop("last_number", "eval_set"),
        products=products,
    )


def for_targets(history: History, targets: pl.DataFrame) -> History:
    """The part of `history` that belongs to the users of `targets` (some of its targets).

    A user's feature rows read only that user's history and the fitted
    statistics, so they are the same from this part as from the whole.
    """
    users = targets.get_column("user_id").implode()
    mine = pl.col("user_id").is_in(users)
    return replace(
        history,
        orders=history.orders.filter(mine),
        # Materialised like the whole history's lines: every family reads them.
        lines=history.lines.filter(mine).collect().lazy(),
        targets=targets.lazy(),
    )
