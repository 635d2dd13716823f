"""Order-level features for the None model: one row per target order."""

from __future__ import annotations

import polars as pl

from basketcast.features.family import FeatureFamily, Scope
from basketcast.features.user import DESCRIPTIONS as USER
from basketcast.frame import ORDER_KEYS

__all__ = ["DESCRIPTIONS", "ORDER", "OrderFamily", "order_features"]

_AGGREGATES = {
    "up_share": ("mean", "max", "std"),
    "up_orders_since_last": ("min", "mean"),
    "up_streak": ("max", "mean"),
    "up_in_last1": ("sum",),
    "up_days_since_last": ("min", "mean"),
    "up_days_vs_cycle": ("min",),
    "p_reorder_prob": ("mean", "max"),
    # Present only with the opt-in tifu family: how strongly the history predicts repeats.
    "tifu_score": ("max", "sum"),
}
_CONTEXT = ("t_dow", "t_hour", "t_days", "t_days_vs_user", "t_days_ratio")

DESCRIPTIONS: dict[str, str] = {
    "o_candidates": "products the user bought before (candidates of the order)"
} | {
    f"o_{c}_{a}": f"{a} over the order's candidates of: {c}"
    for c, aggs in _AGGREGATES.items()
    for a in aggs
}


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


class OrderFamily(FeatureFamily):
    """Summaries of an order's candidate rows, for the None model.

    It has no history transform of its own: `aggregate` reads the finished
    item frame, so it holds exactly the item families that are switched on.
    The order frame also carries the user and target-context columns of the
    item frame (described by their own families).
    """

    def produces(self, item_columns: list[str]) -> list[str]:
        """The `columns` this family adds for an item frame with ``item_columns``."""
        present = set(item_columns)
        aggregated = [f"o_{c}_{a}" for c, aggs in _AGGREGATES.items() if c in present for a in aggs]
        return ["o_candidates", *aggregated]

    def aggregate(self, items: pl.LazyFrame) -> pl.LazyFrame:
        return order_features(items)


ORDER = OrderFamily(name="order", scope=Scope.ORDER, keys=ORDER_KEYS, columns=DESCRIPTIONS)
