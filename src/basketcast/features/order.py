"""Order-level features for the None model: one row per target order."""

from __future__ import annotations

import polars as pl

from basketcast.features.registry import register
from basketcast.features.user import DESCRIPTIONS as USER

__all__ = ["DESCRIPTIONS", "order_features"]

_AGGREGATES = {
    "up_share": ("mean", "max", "std"),
    "up_orders_since_last": ("min", "mean"),
    "up_streak": ("max", "mean"),
    "up_in_last1": ("sum",),
    "up_days_since_last": ("min", "mean"),
    "up_days_vs_cycle": ("min",),
    "p_reorder_prob": ("mean", "max"),
}
_CONTEXT = ("t_dow", "t_hour", "t_days", "t_days_vs_user", "t_days_ratio")

DESCRIPTIONS = register(
    "order",
    {"o_candidates": "products the user bought before (candidates of the order)"}
    | {
        f"o_{c}_{a}": f"{a} over the order's candidates of: {c}"
        for c, aggs in _AGGREGATES.items()
        for a in aggs
    },
)


def order_features(items: pl.LazyFrame) -> pl.LazyFrame:
    """Aggregate a candidate frame (ids, label, features) into one row per target order.

    The label is 1 when the order has no reorder at all (the truth is `None`).
    """
    columns = set(items.collect_schema().names())
    aggs = [
        getattr(pl.col(c), a)().cast(pl.Float32).alias(f"o_{c}_{a}")
        for c, names in _AGGREGATES.items()
        if c in columns
        for a in names
    ]
    keep = [c for c in (*USER, *_CONTEXT) if c in columns]
    return (
        items.group_by("order_id", "user_id", "depth")
        .agg(
            (pl.col("label").max() == 0).cast(pl.Int8).alias("label"),
            pl.len().cast(pl.Float32).alias("o_candidates"),
            *aggs,
            *(pl.col(c).first() for c in keep),
        )
        .sort("depth", "order_id")
    )
