"""Substitutes: what the user bought from this product's aisle since they last bought it.

A shopper who switched from one milk to another keeps buying milk, just not
this one: other products of the same aisle bought since the last purchase of
a product lower the chance that it is reordered. Per user × product, with L
the user's last visible order holding the product and "since" the user's
orders after L, the family counts the orders since L, those of them holding
another product of the aisle, those products' lines and distinct products,
and the share of orders since L with the aisle. Beside it, the share of the
user's orders up to L that held another product of the aisle tells "bought
something else from this aisle since" apart from "always buys several things
in this aisle".

Everything is read off one table of the user's orders per aisle (lines per
user × aisle × order, with running counts), joined exactly at each product's
last order: no per-user loops and no as-of joins. After L the product itself
is never bought, so every aisle line after L is another product's.

Per user only (no fitted statistics); needs the products table for the
aisles; off by default (`features.include = ["substitutes"]`).
"""

from __future__ import annotations

import polars as pl

from basketcast.features.family import FeatureFamily, Scope, Stats, join_on
from basketcast.features.history import History

__all__ = ["SUBSTITUTES", "SubstitutesFamily", "substitutes_features"]

DESCRIPTIONS: dict[str, str] = {
    "sub_orders_since": "the user's orders after their last purchase of the product",
    "sub_aisle_orders_since": "orders since the last purchase with another product of its aisle",
    "sub_aisle_lines_since": "lines of other products of its aisle since the last purchase",
    "sub_aisle_products_since": "distinct other products of its aisle bought since the last purchase",
    "sub_aisle_share_since": "share of the orders since the last purchase with another product of its aisle (null if none)",
    "sub_aisle_rate_before": "share of the user's orders up to the last purchase with another product of its aisle",
}

_KEYS = ["user_id", "aisle_id", "order_number"]


def substitutes_features(
    lines: pl.LazyFrame, orders: pl.LazyFrame, products: pl.LazyFrame
) -> pl.LazyFrame:
    """One row per (user_id, product_id) with the `DESCRIPTIONS` columns.

    ``lines``: user_id, product_id, order_number (`History.lines`); ``orders``:
    user_id, order_number (the history orders, empty ones included);
    ``products``: product_id, aisle_id. A product without an aisle gets nulls.
    """
    number = pl.col("order_number")
    shelf = (
        lines.select("user_id", "product_id", "order_number")
        .join(products.select("product_id", "aisle_id"), on="product_id", how="inner")
        .with_columns(n_lines=pl.len().over(_KEYS))
    )
    # ``alone``: the product's orders where it was the aisle's only product, which do not
    # count as "another product of the aisle" up to L.
    per_product = shelf.group_by("user_id", "aisle_id", "product_id").agg(
        last=number.max(), alone=(pl.col("n_lines") == 1).sum()
    )
    # Lines per user × aisle × order, with how many of the aisle's products were last
    # bought there; running sums over the aisle's orders are then "up to and including".
    last_here = per_product.group_by(
        "user_id", "aisle_id", pl.col("last").alias("order_number")
    ).agg(n_last=pl.len())
    aisle_orders = (
        shelf.group_by(_KEYS)
        .agg(n_lines=pl.len())
        .join(last_here, on=_KEYS, how="left")
        .with_columns(pl.col("n_last").fill_null(0))
        .sort(_KEYS)
        .with_columns(
            k=pl.int_range(1, pl.len() + 1).over("user_id", "aisle_id"),
            lines_cum=pl.col("n_lines").cum_sum().over("user_id", "aisle_id"),
            last_cum=pl.col("n_last").cum_sum().over("user_id", "aisle_id"),
        )
    )
    totals = aisle_orders.group_by("user_id", "aisle_id").agg(
        k_all=pl.len(), lines_all=pl.col("n_lines").sum(), last_all=pl.col("n_last").sum()
    )
    # Position of each order among the user's history orders (1-based), and their count.
    position = orders.select("user_id", "order_number").with_columns(
        pos=number.rank("ordinal").over("user_id"), n_orders=pl.len().over("user_id")
    )
    values = (
        per_product.join(
            aisle_orders.select(*_KEYS, "k", "lines_cum", "last_cum"),
            left_on=["user_id", "aisle_id", "last"],
            right_on=_KEYS,
            how="left",
        )
        .join(totals, on=["user_id", "aisle_id"], how="left")
        .join(
            position, left_on=["user_id", "last"], right_on=["user_id", "order_number"], how="left"
        )
    )
    since = pl.col("n_orders") - pl.col("pos")
    aisle_since = pl.col("k_all") - pl.col("k")
    return values.select(
        "user_id",
        "product_id",
        sub_orders_since=since,
        sub_aisle_orders_since=aisle_since,
        sub_aisle_lines_since=pl.col("lines_all") - pl.col("lines_cum"),
        sub_aisle_products_since=pl.col("last_all") - pl.col("last_cum"),
        sub_aisle_share_since=pl.when(since > 0).then(aisle_since / since),
        sub_aisle_rate_before=(pl.col("k") - pl.col("alone")) / pl.col("pos"),
    )


class SubstitutesFamily(FeatureFamily):
    """The user's purchases of other products of the aisle since the last purchase; per user only."""

    def transform(self, frame: pl.LazyFrame, history: History, stats: Stats) -> pl.LazyFrame:
        assert history.products is not None  # the assembler checks `available` first
        values = substitutes_features(history.lines, history.orders, history.products)
        return join_on(frame, values, ["user_id", "product_id"])


SUBSTITUTES = SubstitutesFamily(
    name="substitutes",
    scope=Scope.USER_PRODUCT,
    keys=("user_id", "product_id"),
    columns=DESCRIPTIONS,
    needs_products=True,
    default_on=False,
)
