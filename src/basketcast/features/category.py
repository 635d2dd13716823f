"""Aisle and department features: the user's taste for the product's shelf, and the shelf's loyalty."""

from __future__ import annotations

import polars as pl

from basketcast.features.registry import register

__all__ = ["DESCRIPTIONS", "category_features"]

DESCRIPTIONS = register(
    "category",
    {
        "aisle_id": "the product's aisle id",
        "department_id": "the product's department id",
        "a_reorder_prob": "share of the aisle's lines that were reorders",
        "d_reorder_prob": "share of the department's lines that were reorders",
        "ua_share": "share of the user's lines in the product's aisle",
        "ud_share": "share of the user's lines in the product's department",
        "ua_reorder_rate": "share of the user's lines in the aisle that were reorders",
        "ud_reorder_rate": "share of the user's lines in the department that were reorders",
    },
)


def category_features(
    lines: pl.LazyFrame, products: pl.LazyFrame
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """(per product: aisle/department ids and loyalty; per user × aisle × department: the user's shares).

    Join the first on product_id, then the second on (user_id, aisle_id, department_id).
    """
    shelf = lines.select("user_id", "product_id", "is_reorder").join(
        products, on="product_id", how="inner"
    )
    aisle = shelf.group_by("aisle_id").agg(a_reorder_prob=pl.col("is_reorder").mean())
    dept = shelf.group_by("department_id").agg(d_reorder_prob=pl.col("is_reorder").mean())
    per_product = products.join(aisle, on="aisle_id", how="left").join(
        dept, on="department_id", how="left"
    )

    ua = shelf.group_by("user_id", "aisle_id", "department_id").agg(
        n_a=pl.len(), r_a=pl.col("is_reorder").sum()
    )
    # Totals per user and per user × department as small joins (window expressions cost more).
    per_dept = ua.group_by("user_id", "department_id").agg(
        n_d=pl.col("n_a").sum(), r_d=pl.col("r_a").sum()
    )
    per_user_total = ua.group_by("user_id").agg(n_u=pl.col("n_a").sum())
    per_user = (
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
    return per_product, per_user
