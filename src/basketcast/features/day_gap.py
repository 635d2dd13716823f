"""Days since the product's last purchase, against this user's own gaps between purchases of it.

The days run to the *target* order (its day on the user's timeline, which
reads the target's ``days_since_prior_order``, as the context family does):
switch this family off with context where that gap is not known in advance.
Per user only (no fitted statistics); off by default (`features.include`).
"""

from __future__ import annotations

import polars as pl

from basketcast.features.family import FeatureFamily, Scope, Stats, join_on
from basketcast.features.history import History

__all__ = ["DAY_GAP", "DayGapFamily", "day_gap_features"]

DESCRIPTIONS: dict[str, str] = {
    "dg_days_since": "days from the product's last purchase to the target order",
    "dg_gap_mean": "mean days between the user's consecutive purchases of it (null if bought once)",
    "dg_gap_max": "longest gap in days between the user's consecutive purchases of it",
    "dg_minus_max": "days since the last purchase minus the longest gap",
    "dg_over_mean": "days since the last purchase divided by the mean gap",
}


def day_gap_features(lines: pl.LazyFrame, targets: pl.LazyFrame) -> pl.LazyFrame:
    """One row per (user_id, product_id) with the `DESCRIPTIONS` columns.

    ``lines``: user_id, product_id, day, sorted by user, product, order
    (`History.lines`); ``targets``: user_id, day (one target per user).
    """
    day = pl.col("day")
    same = (pl.col("user_id") == pl.col("user_id").shift(1)) & (
        pl.col("product_id") == pl.col("product_id").shift(1)
    )
    per_pair = (
        lines.select("user_id", "product_id", "day")
        .with_columns(gap=pl.when(same).then(day - day.shift(1)))
        .group_by("user_id", "product_id")
        .agg(last=day.max(), dg_gap_mean=pl.col("gap").mean(), dg_gap_max=pl.col("gap").max())
    )
    since = pl.col("target_day") - pl.col("last")
    return (
        per_pair.join(targets.select("user_id", target_day=pl.col("day")), on="user_id", how="left")
        .with_columns(dg_days_since=since)
        .with_columns(
            dg_minus_max=pl.col("dg_days_since") - pl.col("dg_gap_max"),
            dg_over_mean=pl.col("dg_days_since") / pl.col("dg_gap_mean"),
        )
        .select("user_id", "product_id", *DESCRIPTIONS)
    )


class DayGapFamily(FeatureFamily):
    """Days since the last purchase against the user's own purchase gaps; per user only."""

    def transform(self, frame: pl.LazyFrame, history: History, stats: Stats) -> pl.LazyFrame:
        values = day_gap_features(history.lines, history.targets)
        return join_on(frame, values, ["user_id", "product_id"])


DAY_GAP = DayGapFamily(
    name="day_gap",
    scope=Scope.USER_PRODUCT,
    keys=("user_id", "product_id"),
    columns=DESCRIPTIONS,
    default_on=False,
)
