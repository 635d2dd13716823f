"""User × product features: how often, how recently and how regularly this user buys this product."""

from __future__ import annotations

import polars as pl

from basketcast.features.family import FeatureFamily, Scope, Stats, join_on
from basketcast.features.history import History
from basketcast.features.product import with_next_purchase

__all__ = [
    "DESCRIPTIONS",
    "USER_PRODUCT",
    "UserProductFamily",
    "user_product_features",
    "user_totals",
]

DESCRIPTIONS: dict[str, str] = {
    "up_orders": "times the user bought the product",
    "up_share": "share of the user's orders that contain the product",
    "up_share_since_first": "share of the user's orders since its first purchase that contain it",
    "up_first_on": "order number of the first purchase",
    "up_last_on": "order number of the last purchase",
    "up_orders_since_last": "orders from the last purchase to the target (1 = bought in the previous order)",
    "up_days_since_last_hist": "days from the last purchase to the user's last order before the target",
    "up_cycle_orders": "the user's usual number of orders between purchases of it",
    "up_cycle_days": "the user's usual number of days between purchases of it",
    "up_orders_vs_cycle": "orders since the last purchase divided by the usual order cycle",
    "up_streak": "consecutive most recent orders that contain it (0 if not in the last one)",
    "up_in_last1": "in the user's last order (1/0)",
    "up_in_last3": "orders among the user's last 3 that contain it",
    "up_in_last5": "orders among the user's last 5 that contain it",
    "up_cart_mean": "mean add-to-cart position for this user",
    "up_cart_rel": "mean add-to-cart position relative to basket size",
}


def user_product_features(sorted_lines: pl.LazyFrame, users: pl.LazyFrame) -> pl.LazyFrame:
    """One row per (user_id, product_id).

    `sorted_lines` comes from `product.with_next_purchase` (sorted by user,
    product, order, with `u_last`); `users` holds `user_id`, `u_orders` and
    `u_total_days` (see `user_totals`).
    """
    # Row-level columns first, then only simple aggregations (Polars' fast paths): an
    # expression evaluated group by group costs several times more at 30M lines. The
    # columns are narrow because all of them exist at once for every line.
    # A purchase run breaks where the product skipped an order; runs are consecutive
    # orders, so the streak is the last order minus the order that started the last run, + 1.
    new_run = (
        (pl.col("order_number") - pl.col("order_number").shift(1) != 1)
        | (pl.col("product_id") != pl.col("product_id").shift(1))
        | (pl.col("user_id") != pl.col("user_id").shift(1))
    ).fill_null(True)
    last = pl.col("u_last")
    flag = pl.UInt8
    per_pair = (
        sorted_lines.with_columns(
            run_from=pl.when(new_run).then(pl.col("order_number")).forward_fill().cast(pl.Int32),
            in_last1=(pl.col("order_number") == last).cast(flag),
            in_last3=(pl.col("order_number") > last - 3).cast(flag),
            in_last5=(pl.col("order_number") > last - 5).cast(flag),
            cart=pl.col("add_to_cart_order").cast(pl.Float32),
            cart_rel=pl.col("add_to_cart_order") / pl.col("basket_size"),
        )
        .group_by("user_id", "product_id")
        .agg(
            up_orders=pl.len(),
            up_first_on=pl.col("order_number").min(),
            up_last_on=pl.col("order_number").max(),
            first_day=pl.col("day").min(),
            last_day=pl.col("day").max(),
            last_run_len=pl.col("order_number").max() - pl.col("run_from").last() + 1,
            up_in_last1=pl.col("in_last1").max(),
            up_in_last3=pl.col("in_last3").sum(),
            up_in_last5=pl.col("in_last5").sum(),
            up_cart_mean=pl.col("cart").mean(),
            up_cart_rel=pl.col("cart_rel").mean(),
        )
    )
    repeats = (pl.col("up_orders") - 1).cast(pl.Float32)
    return (
        per_pair.join(users.select("user_id", "u_orders", "u_total_days"), on="user_id", how="left")
        .with_columns(
            up_share=pl.col("up_orders") / pl.col("u_orders"),
            up_share_since_first=pl.col("up_orders")
            / (pl.col("u_orders") - pl.col("up_first_on") + 1),
            up_orders_since_last=pl.col("u_orders") + 1 - pl.col("up_last_on"),
            up_days_since_last_hist=pl.col("u_total_days") - pl.col("last_day"),
            up_cycle_orders=pl.when(repeats > 0).then(
                (pl.col("up_last_on") - pl.col("up_first_on")) / repeats
            ),
            up_cycle_days=pl.when(repeats > 0).then(
                (pl.col("last_day") - pl.col("first_day")) / repeats
            ),
            up_streak=pl.when(pl.col("up_in_last1") == 1).then(pl.col("last_run_len")).otherwise(0),
        )
        .with_columns(up_orders_vs_cycle=pl.col("up_orders_since_last") / pl.col("up_cycle_orders"))
        .drop("first_day", "last_day", "last_run_len", "u_orders", "u_total_days")
    )


def user_totals(history: History) -> pl.LazyFrame:
    """user_id, u_orders, u_total_days: the two user totals the user × product ratios divide by.

    Computed here rather than read from the user family, so that the user
    family can be switched off on its own (same expressions, same values).
    """
    return history.orders.group_by("user_id").agg(
        u_orders=pl.len(), u_total_days=pl.col("day").max()
    )


class UserProductFamily(FeatureFamily):
    """How often, how recently and how regularly each user buys each product; per user only."""

    def transform(self, frame: pl.LazyFrame, history: History, stats: Stats) -> pl.LazyFrame:
        values = user_product_features(with_next_purchase(history.lines), user_totals(history))
        return join_on(frame, values, ["user_id", "product_id"])


USER_PRODUCT = UserProductFamily(
    name="user_product",
    scope=Scope.USER_PRODUCT,
    keys=("user_id", "product_id"),
    columns=DESCRIPTIONS,
)
