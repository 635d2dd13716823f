"""Product features: popularity, loyalty, and where in the cart a product lands."""

from __future__ import annotations

import polars as pl

from basketcast.features.family import FeatureFamily, Scope, StatPlans, Stats, join_on
from basketcast.features.history import History

__all__ = [
    "DESCRIPTIONS",
    "PRODUCT",
    "ProductFamily",
    "product_dow_profile",
    "product_features",
    "with_next_purchase",
]

DESCRIPTIONS: dict[str, str] = {
    "p_purchases": "times the product was bought (all users)",
    "p_buyers": "distinct users who bought the product",
    "p_reorder_prob": "share of the product's lines that were reorders",
    "p_one_time_share": "share of its buyers who bought it only once",
    "p_reorder_after_first": "reorders per order placed after a user's first purchase of it",
    "p_rebuy_1": "probability it is bought again in the very next order",
    "p_rebuy_3": "probability it is bought again within the next 3 orders",
    "p_cart_mean": "mean add-to-cart position",
    "p_cart_std": "standard deviation of the add-to-cart position",
    "p_hour_mean": "mean hour of day of its purchases",
}


def with_next_purchase(lines: pl.LazyFrame) -> pl.LazyFrame:
    """Lines sorted by user, product, order with the user's last order number and the next purchase of the same product."""
    same_pair = (pl.col("user_id") == pl.col("user_id").shift(-1)) & (
        pl.col("product_id") == pl.col("product_id").shift(-1)
    )
    # `History.lines` is already sorted by user, product and order.
    return lines.with_columns(u_last=pl.col("order_number").max().over("user_id")).with_columns(
        next_number=pl.when(same_pair).then(pl.col("order_number").shift(-1)),
    )


def product_features(sorted_lines: pl.LazyFrame) -> pl.LazyFrame:
    """One row per product_id; `sorted_lines` comes from `with_next_purchase`."""
    after = pl.col("next_number") - pl.col("order_number")
    left = pl.col("u_last") - pl.col("order_number")
    per_pair = sorted_lines.group_by("user_id", "product_id").agg(
        n=pl.len(), first_on=pl.col("order_number").min(), u_last=pl.col("u_last").first()
    )
    # Row-level columns, then plain means and sums: Polars' fast aggregation paths.
    loyalty = (
        per_pair.with_columns(
            one_time=(pl.col("n") == 1).cast(pl.Float64),
            reorders=pl.col("n") - 1,
            chances=pl.col("u_last") - pl.col("first_on"),
        )
        .group_by("product_id")
        .agg(
            p_buyers=pl.len(),
            p_one_time_share=pl.col("one_time").mean(),
            p_reorder_after_first=pl.col("reorders").sum() / pl.col("chances").sum(),
        )
    )
    # A line counts for "bought again within k orders" only when k more orders followed it.
    rebuy = {
        k: pl.when(left >= k).then((after.fill_null(99) <= k).cast(pl.Float64)) for k in (1, 3)
    }
    return (
        sorted_lines.with_columns(
            rebuy_1=rebuy[1],
            rebuy_3=rebuy[3],
            cart=pl.col("add_to_cart_order").cast(pl.Float32),
            hour=pl.col("order_hour_of_day").cast(pl.Float32),
        )
        .group_by("product_id")
        .agg(
            p_purchases=pl.len(),
            p_reorder_prob=pl.col("is_reorder").mean(),
            p_rebuy_1=pl.col("rebuy_1").mean(),
            p_rebuy_3=pl.col("rebuy_3").mean(),
            p_cart_mean=pl.col("cart").mean(),
            p_cart_std=pl.col("cart").std(),
            p_hour_mean=pl.col("hour").mean(),
        )
        .join(loyalty, on="product_id", how="left")
        .with_columns(pl.col(pl.Float64, pl.Float32).fill_nan(None))
    )


def product_dow_profile(history: History) -> pl.LazyFrame:
    """product_id, order_dow, p_dow_share: the share of the product's purchases on each day of week."""
    return (
        history.lines.group_by("product_id", "order_dow")
        .agg(n=pl.len())
        .with_columns(p_dow_share=pl.col("n") / pl.col("n").sum().over("product_id"))
        .drop("n")
    )


class ProductFamily(FeatureFamily):
    """Popularity and loyalty of each product over every user: all of it is fitted statistics."""

    def fit(self, history: History) -> StatPlans:
        return {"product": product_features(with_next_purchase(history.lines))}

    def transform(self, frame: pl.LazyFrame, history: History, stats: Stats) -> pl.LazyFrame:
        return join_on(frame, stats["product"].lazy(), "product_id")


PRODUCT = ProductFamily(
    name="product",
    scope=Scope.PRODUCT,
    keys=("product_id",),
    columns=DESCRIPTIONS,
    joins_product_stats=True,
)
