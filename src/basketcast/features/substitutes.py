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

Everything is read off the user's lines sorted once by aisle and order, as
running counts at each product's last line: no per-user loops, no as-of
joins. After L the product itself is never bought, so every aisle line after
L is another product's.

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


def substitutes_features(
    lines: pl.LazyFrame, orders: pl.LazyFrame, products: pl.LazyFrame
) -> pl.LazyFrame:
    """One row per (user_id, product_id) with the `DESCRIPTIONS` columns.

    ``lines``: user_id, product_id, order_number, sorted by user, product and
    order (`History.lines`); ``orders``: user_id, order_number (the history
    orders, numbered 1..n as validation ensures); ``products``: product_id,
    aisle_id. A product not in ``products`` gets nulls.

    The lines are sorted once by user, aisle and order; every count is then a
    running sum read at a product's last line, at the end of its order's run
    of lines, or at the end of the user's aisle, so nothing is grouped by hash
    but the products' lone orders.
    """
    user, product, aisle, number = (
        pl.col(c) for c in ("user_id", "product_id", "aisle_id", "order_number")
    )
    # In the history's order (user, product, order): the product's last purchase.
    last_of_product = ~((user == user.shift(-1)) & (product == product.shift(-1))).fill_null(False)
    new_aisle = ((user != user.shift(1)) | (aisle != aisle.shift(1))).fill_null(True)
    new_order = (new_aisle | (number != number.shift(1))).fill_null(True)
    order_ends = new_order.shift(-1).fill_null(True)
    aisle_ends = new_aisle.shift(-1).fill_null(True)
    row, runs, lasts = pl.int_range(pl.len()), pl.col("runs"), pl.col("lasts")

    def at(end: pl.Expr, value: pl.Expr) -> pl.Expr:
        """``value`` at the next row where ``end`` holds (this one included)."""
        return pl.when(end).then(value).fill_null(strategy="backward")

    shelf = (
        lines.select("user_id", "product_id", "order_number")
        .with_columns(is_last=last_of_product)
        .join(products.select("product_id", "aisle_id"), on="product_id", how="inner")
        .sort("user_id", "aisle_id", "order_number")
        .with_columns(
            # Running counts over the user's aisles: orders (runs of lines) and last purchases.
            runs=new_order.cum_sum(),
            lasts=pl.col("is_last").cum_sum(),
            # The product was the aisle's only line in this order.
            alone=new_order & order_ends,
        )
        .with_columns(
            first_run=pl.when(new_aisle).then(runs).forward_fill(),
            row_end=at(order_ends, row),
            lasts_end=at(order_ends, lasts),
            aisle_row_end=at(aisle_ends, row),
            aisle_runs_end=at(aisle_ends, runs),
            aisle_lasts_end=at(aisle_ends, lasts),
            alone=pl.col("alone").sum().over("user_id", "product_id"),
        )
        .filter("is_last")
    )
    n_orders = orders.group_by("user_id").agg(n_orders=number.max())
    since = pl.col("n_orders") - number
    aisle_since = pl.col("aisle_runs_end") - runs
    return shelf.join(n_orders, on="user_id", how="left").select(
        "user_id",
        "product_id",
        sub_orders_since=since,
        sub_aisle_orders_since=aisle_since,
        sub_aisle_lines_since=pl.col("aisle_row_end") - pl.col("row_end"),
        sub_aisle_products_since=pl.col("aisle_lasts_end") - pl.col("lasts_end"),
        sub_aisle_share_since=pl.when(since > 0).then(aisle_since / since),
        sub_aisle_rate_before=(runs - pl.col("first_run") + 1 - pl.col("alone")) / number,
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
