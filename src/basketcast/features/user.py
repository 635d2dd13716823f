"""User features: how often, how much, and how habitually a user shops."""

from __future__ import annotations

import polars as pl

from basketcast.features.family import FeatureFamily, Scope, Stats, join_on
from basketcast.features.history import History

__all__ = ["DESCRIPTIONS", "USER", "UserFamily", "user_features"]

DESCRIPTIONS: dict[str, str] = {
    "u_orders": "orders the user placed before the target",
    "u_days_mean": "mean days between the user's orders",
    "u_days_std": "standard deviation of days between the user's orders",
    "u_total_days": "days from the user's first order to their last one before the target",
    "u_basket_mean": "mean basket size",
    "u_basket_max": "largest basket",
    "u_basket_std": "standard deviation of basket size",
    "u_lines": "products bought in all (lines)",
    "u_distinct_products": "distinct products ever bought",
    "u_reorder_ratio": "share of lines (orders 2+) that were reorders",
    "u_none_share": "share of orders (2+) with no reorder at all",
    "u_none_last": "the user's last order had no reorder (1/0)",
    "u_none_last3": "share of the last 3 orders (2+) with no reorder",
    "u_last_basket": "size of the user's last basket",
    "u_last_reorders": "reorders in the user's last basket",
    "u_hour_mean": "mean hour of day of the user's orders",
    "u_hour_std": "standard deviation of the hour of the user's orders",
    "u_dow01_share": "share of the user's orders placed on days 0-1",
}


def user_features(history: History) -> pl.LazyFrame:
    """One row per user_id."""
    repeat = pl.col("order_number") > 1
    none = (pl.col("reorders") == 0) & repeat
    recent = pl.col("order_number") > pl.col("order_number").max() - 3
    return (
        history.orders.sort("user_id", "order_number")
        .group_by("user_id")
        .agg(
            u_orders=pl.len(),
            u_days_mean=pl.col("days_since_prior_order").mean(),
            u_days_std=pl.col("days_since_prior_order").std(),
            u_total_days=pl.col("day").max(),
            u_basket_mean=pl.col("basket_size").mean(),
            u_basket_max=pl.col("basket_size").max(),
            u_basket_std=pl.col("basket_size").std(),
            u_lines=pl.col("basket_size").sum(),
            u_reorder_ratio=pl.col("reorders").filter(repeat).sum()
            / pl.col("basket_size").filter(repeat).sum(),
            u_none_share=none.sum() / repeat.sum(),
            u_none_last=none.last(),
            u_none_last3=none.filter(recent).sum() / (repeat & recent).sum(),
            u_last_basket=pl.col("basket_size").last(),
            u_last_reorders=pl.col("reorders").last(),
            u_hour_mean=pl.col("order_hour_of_day").cast(pl.Float32).mean(),
            u_hour_std=pl.col("order_hour_of_day").cast(pl.Float32).std(),
            u_dow01_share=(pl.col("order_dow") <= 1).mean(),
        )
        .join(
            history.lines.group_by("user_id").agg(
                u_distinct_products=pl.col("product_id").n_unique()
            ),
            on="user_id",
            how="left",
        )
        # 0/0 shares (a user with one order) are missing, not NaN.
        .with_columns(pl.col(pl.Float64, pl.Float32).fill_nan(None))
    )


class UserFamily(FeatureFamily):
    """Per-user aggregates of the user's own orders; nothing shared across users."""

    def transform(self, frame: pl.LazyFrame, history: History, stats: Stats) -> pl.LazyFrame:
        return join_on(frame, user_features(history), "user_id")


USER = UserFamily(name="user", scope=Scope.USER, keys=("user_id",), columns=DESCRIPTIONS)
