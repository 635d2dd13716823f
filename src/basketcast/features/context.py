"""Target-order context: the target's own day, hour and gap, and how they sit against habits.

These are known at prediction time in the Kaggle layout (the order row exists);
in the real-world case where the next order has not been placed yet, turn the
family off (`features.exclude = ["context"]`).
"""

from __future__ import annotations

import polars as pl

from basketcast.features.family import FeatureFamily, Scope, StatPlans, Stats
from basketcast.features.history import History
from basketcast.features.product import product_dow_profile

__all__ = ["CONTEXT", "DESCRIPTIONS", "ContextFamily", "with_context"]

DESCRIPTIONS: dict[str, str] = {
    "t_dow": "the target order's day of week",
    "t_hour": "the target order's hour of day",
    "t_days": "days since the user's previous order, at the target",
    "t_days_vs_user": "target gap minus the user's mean gap",
    "t_days_ratio": "target gap divided by the user's mean gap",
    "t_hour_vs_user": "target hour minus the user's mean hour",
    "t_hour_vs_product": "target hour minus the product's mean purchase hour",
    "p_dow_share_at_t": "share of the product's purchases made on the target's day of week",
    "up_days_since_last": "days from the user's last purchase of it to the target",
    "up_days_vs_cycle": "days since the last purchase divided by the user's usual cycle for it",
}


def with_context(
    frame: pl.LazyFrame, targets: pl.LazyFrame, dow_profile: pl.LazyFrame
) -> pl.LazyFrame:
    """Add the context family to a candidate frame that already has user, product and user×product features."""
    target = targets.select(
        "order_id",
        t_dow=pl.col("order_dow").cast(pl.Int8),
        t_hour=pl.col("order_hour_of_day"),
        t_days=pl.col("days_since_prior_order"),
    )
    return (
        frame.join(target, on="order_id", how="left", maintain_order="left")
        .join(
            dow_profile.rename({"order_dow": "t_dow", "p_dow_share": "p_dow_share_at_t"}),
            on=["product_id", "t_dow"],
            how="left",
            maintain_order="left",
        )
        .with_columns(
            t_days_vs_user=pl.col("t_days") - pl.col("u_days_mean"),
            t_days_ratio=pl.col("t_days") / pl.col("u_days_mean"),
            t_hour_vs_user=pl.col("t_hour") - pl.col("u_hour_mean"),
            t_hour_vs_product=pl.col("t_hour") - pl.col("p_hour_mean"),
            p_dow_share_at_t=pl.col("p_dow_share_at_t").fill_null(0.0),
            up_days_since_last=pl.col("up_days_since_last_hist") + pl.col("t_days"),
        )
        .with_columns(up_days_vs_cycle=pl.col("up_days_since_last") / pl.col("up_cycle_days"))
    )


class ContextFamily(FeatureFamily):
    """The target order's own timing against the user's and the product's habits.

    Fitted: each product's day-of-week profile. Read from other families:
    the user's mean gap and hour, the product's mean hour, the user × product
    recency and cycle (`needs`).
    """

    def fit(self, history: History) -> StatPlans:
        return {"dow": product_dow_profile(history)}

    def transform(self, frame: pl.LazyFrame, history: History, stats: Stats) -> pl.LazyFrame:
        return with_context(frame, history.targets, stats["dow"].lazy())


CONTEXT = ContextFamily(
    joins_product_stats=True,
    name="context",
    scope=Scope.CONTEXT,
    keys=("order_id", "product_id"),
    columns=DESCRIPTIONS,
    needs=("u_days_mean", "u_hour_mean", "p_hour_mean", "up_days_since_last_hist", "up_cycle_days"),
)
