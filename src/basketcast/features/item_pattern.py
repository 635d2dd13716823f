"""Onodera's item patterns: how this user's recent buy/skip pattern of a product was followed before.

Over the user's history orders 1..N, a product's purchases form a 0/1 series
b_1..b_N. A pattern (say ``10``: bought in order t−1, not in t) has a
*chance* at every t where the series ends in the pattern and order t+1 is
still in the history, and a *success* when b_{t+1} = 1. Per user × product the
family gives, for the patterns 1, 11, 10, 111, 110, 101 and 100, the
successes, the chances and their ratio (null without a chance), as in the
1st-place Instacart solution. Every pattern starts with a purchase, so each
is read off the purchase rows alone, from the gaps to the previous two and the
next purchase, with no dense 0/1 series.

Per user only (no fitted statistics); off by default (`features.include`).
"""

from __future__ import annotations

import polars as pl

from basketcast.features.family import FeatureFamily, Scope, Stats, join_on
from basketcast.features.history import History

__all__ = ["ITEM_PATTERN", "PATTERNS", "ItemPatternFamily", "item_pattern_features"]

PATTERNS: tuple[str, ...] = ("1", "11", "10", "111", "110", "101", "100")

DESCRIPTIONS: dict[str, str] = {
    f"ip{p}_{what}": text.format(p=p)
    for p in PATTERNS
    for what, text in (
        (
            "n",
            "times the pattern {p} (oldest first, ending at t) was followed by a purchase in t+1",
        ),
        ("chances", "times the pattern {p} ended at an order t with t+1 in the history"),
        ("ratio", "share of the pattern {p}'s chances followed by a purchase in t+1"),
    )
}


def _chance_and_success(o: pl.Expr, n: pl.Expr) -> dict[str, tuple[pl.Expr, pl.Expr]]:
    """Per purchase row (order number ``o``, history length ``n``): each pattern's chance and success.

    ``prev``/``prev2``/``next`` are the gaps (in orders) to the previous purchase,
    between the two before, and to the next purchase (null when none).
    """
    prev, prev2, nxt = pl.col("gap_prev"), pl.col("gap_prev2"), pl.col("gap_next")
    no_next_within = {k: nxt.is_null() | (nxt > k) for k in (1, 2)}
    chances = {
        # t = o (the pattern ends with this purchase); t + 1 <= N
        "1": o < n,
        "11": (prev == 1) & (o < n),
        "111": (prev == 1) & (prev2 == 1) & (o < n),
        "101": (prev == 2) & (o < n),
        # t = o + 1 (the pattern ends with one skip); t + 1 = o + 2 <= N
        "10": no_next_within[1] & (o + 2 <= n),
        "110": (prev == 1) & no_next_within[1] & (o + 2 <= n),
        # t = o + 2 (two skips); t + 1 = o + 3 <= N
        "100": no_next_within[2] & (o + 3 <= n),
    }
    # The next purchase lands on t + 1: one, two or three orders after this purchase.
    lands = {"1": 1, "11": 1, "111": 1, "101": 1, "10": 2, "110": 2, "100": 3}
    return {p: (chances[p], chances[p] & (nxt == lands[p])) for p in PATTERNS}


def item_pattern_features(lines: pl.LazyFrame, orders: pl.LazyFrame) -> pl.LazyFrame:
    """One row per (user_id, product_id) with the `DESCRIPTIONS` columns.

    ``lines`` holds user_id, product_id, order_number sorted by user, product,
    order (`History.lines`); ``orders`` holds user_id, order_number (the history).
    """
    n_orders = orders.group_by("user_id").agg(n=pl.col("order_number").max())
    o = pl.col("order_number")
    same = (pl.col("user_id") == pl.col("user_id").shift(1)) & (
        pl.col("product_id") == pl.col("product_id").shift(1)
    )
    same_next = (pl.col("user_id") == pl.col("user_id").shift(-1)) & (
        pl.col("product_id") == pl.col("product_id").shift(-1)
    )
    gaps = (
        lines.select("user_id", "product_id", "order_number")
        .with_columns(
            gap_prev=pl.when(same).then(o - o.shift(1)),
            gap_next=pl.when(same_next).then(o.shift(-1) - o),
        )
        .with_columns(gap_prev2=pl.when(same).then(pl.col("gap_prev").shift(1)))
        .join(n_orders, on="user_id", how="left")
    )
    rules = _chance_and_success(o, pl.col("n"))
    aggs = []
    for p, (chance, success) in rules.items():
        aggs += [
            success.fill_null(False).sum().cast(pl.Float32).alias(f"ip{p}_n"),
            chance.fill_null(False).sum().cast(pl.Float32).alias(f"ip{p}_chances"),
        ]
    ratios = [
        pl.when(pl.col(f"ip{p}_chances") > 0)
        .then(pl.col(f"ip{p}_n") / pl.col(f"ip{p}_chances"))
        .alias(f"ip{p}_ratio")
        for p in PATTERNS
    ]
    return (
        gaps.group_by("user_id", "product_id")
        .agg(aggs)
        .with_columns(ratios)
        .select("user_id", "product_id", *DESCRIPTIONS)
    )


class ItemPatternFamily(FeatureFamily):
    """Onodera's buy/skip transition counts per user × product; per user only."""

    def transform(self, frame: pl.LazyFrame, history: History, stats: Stats) -> pl.LazyFrame:
        values = item_pattern_features(history.lines, history.orders)
        return join_on(frame, values, ["user_id", "product_id"])


ITEM_PATTERN = ItemPatternFamily(
    name="item_pattern",
    scope=Scope.USER_PRODUCT,
    keys=("user_id", "product_id"),
    columns=DESCRIPTIONS,
    default_on=False,
)
