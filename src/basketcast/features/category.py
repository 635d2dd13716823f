"""Aisle and department features: the user's taste for the product's shelf, and the shelf's loyalty."""

from __future__ import annotations

import polars as pl

from basketcast.features.family import FeatureFamily, Scope, StatPlans, Stats, join_on
from basketcast.features.history import History

__all__ = ["CATEGORY", "DESCRIPTIONS", "CategoryFamily", "shelf_loyalty", "user_shelf_shares"]

DESCRIPTIONS: dict[str, str] = {
    "aisle_id": "the product's aisle id",
    "department_id": "the product's department id",
    "a_reorder_prob": "share of the aisle's lines that were reorders",
    "d_reorder_prob": "share of the department's lines that were reorders",
    "ua_share": "share of the user's lines in the product's aisle",
    "ud_share": "share of the user's lines in the product's department",
    "ua_reorder_rate": "share of the user's lines in the aisle that were reorders",
    "ud_reorder_rate": "share of the user's lines in the department that were reorders",
}


def _shelf(lines: pl.LazyFrame, products: pl.LazyFrame) -> pl.LazyFrame:
    return lines.select("user_id", "product_id", "is_reorder").join(
        products, on="product_id", how="inner"
    )


def shelf_loyalty(lines: pl.LazyFrame, products: pl.LazyFrame) -> StatPlans:
    """The shared part: each aisle's and department's reorder share over every user's lines."""
    shelf = _shelf(lines, products)
    return {
        "aisle": shelf.group_by("aisle_id").agg(a_reorder_prob=pl.col("is_reorder").mean()),
        "department": shelf.group_by("department_id").agg(
            d_reorder_prob=pl.col("is_reorder").mean()
        ),
    }


def user_shelf_shares(lines: pl.LazyFrame, products: pl.LazyFrame) -> pl.LazyFrame:
    """Per user × aisle × department: the user's shares of lines and reorders (join on all three)."""
    ua = (
        _shelf(lines, products)
        .group_by("user_id", "aisle_id", "department_id")
        .agg(n_a=pl.len(), r_a=pl.col("is_reorder").sum())
    )
    # Totals per user and per user × department as small joins (window expressions cost more).
    per_dept = ua.group_by("user_id", "department_id").agg(
        n_d=pl.col("n_a").sum(), r_d=pl.col("r_a").sum()
    )
    per_user_total = ua.group_by("user_id").agg(n_u=pl.col("n_a").sum())
    return (
        ua.join(per_dept, on=["user_id", "department_id"], how="left")
        .join(per_user_total, on="user_id", how="left")
        .select(
            "user_id",
            "aisle_id",
            "department_id",
            ua_share=pl.col("n_a") / pl.col("n_u"),
            ua_reorder_rate=pl.col("r_a") / pl.col("n_a"),
            ud_share=pl.col("n_d") / pl.col("n_u"),
            ud_reorder_rate=pl.col("r_d") / pl.col("n_d"),
        )
    )


class CategoryFamily(FeatureFamily):
    """Shelf loyalty (fitted per aisle and department) and the user's own shelf shares.

    The product → aisle/department map is data (the products table of the
    history being transformed), not a fitted statistic.
    """

    def fit(self, history: History) -> StatPlans:
        assert history.products is not None  # the assembler checks `available` first
        return shelf_loyalty(history.lines, history.products)

    def transform(self, frame: pl.LazyFrame, history: History, stats: Stats) -> pl.LazyFrame:
        assert history.products is not None
        per_product = history.products.join(stats["aisle"].lazy(), on="aisle_id", how="left").join(
            stats["department"].lazy(), on="department_id", how="left"
        )
        per_user = user_shelf_shares(history.lines, history.products)
        return join_on(
            join_on(frame, per_product, "product_id"),
            per_user,
            ["user_id", "aisle_id", "department_id"],
        )


CATEGORY = CategoryFamily(
    name="category",
    scope=Scope.CATEGORY,
    keys=("user_id", "product_id"),
    columns=DESCRIPTIONS,
    needs_products=True,
)
