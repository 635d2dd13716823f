"""The families' shared statistics as a map-reduce over user shards.

Every shared statistic is a ratio of sums over lines or over (user, product)
pairs, so each shard computes *partial aggregates* (counts, sums, sums of
squares) of its own users' visible history, the partials of all shards are
added once, and the final ratios are taken from the totals. Users never span
shards, so a pair's lines are all in one shard and the totals equal those of
one pass over every user: the statistics equal what the families' own `fit`
computes on the whole history (a test checks it), up to float rounding.

A family whose `fit` returns statistics must have a decomposition here; the
distributed run refuses to start otherwise (see `check_decomposed`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import polars as pl

from basketcast.features.history import History
from basketcast.features.product import with_next_purchase

__all__ = ["DECOMPOSED", "Partials", "StatTables", "check_decomposed", "combine", "partials"]

Partials = dict[str, pl.DataFrame]
"""One shard's partial aggregates: table name → frame of sums keyed like the statistic."""
StatTables = dict[str, dict[str, pl.DataFrame]]
"""Fitted statistics in the families' layout: family → statistic name → frame."""


def _product_partials(history: History) -> Partials:
    lines = with_next_purchase(history.lines)
    after = pl.col("next_number") - pl.col("order_number")
    left = pl.col("u_last") - pl.col("order_number")
    rebuy = {
        k: pl.when(left >= k).then((after.fill_null(99) <= k).cast(pl.Float64)) for k in (1, 3)
    }
    cart = pl.col("add_to_cart_order").cast(pl.Float64)
    hour = pl.col("order_hour_of_day").cast(pl.Float64)
    per_line = (
        lines.with_columns(rebuy_1=rebuy[1], rebuy_3=rebuy[3], cart=cart, hour=hour)
        .group_by("product_id")
        .agg(
            n=pl.len().cast(pl.Int64),
            reorders=pl.col("is_reorder").cast(pl.Int64).sum(),
            rebuy_1=pl.col("rebuy_1").sum(),
            rebuy_1_n=pl.col("rebuy_1").count().cast(pl.Int64),
            rebuy_3=pl.col("rebuy_3").sum(),
            rebuy_3_n=pl.col("rebuy_3").count().cast(pl.Int64),
            cart=pl.col("cart").sum(),
            cart_sq=(pl.col("cart") ** 2).sum(),
            cart_n=pl.col("cart").count().cast(pl.Int64),
            hour=pl.col("hour").sum(),
            hour_n=pl.col("hour").count().cast(pl.Int64),
        )
    )
    per_pair = (
        lines.group_by("user_id", "product_id")
        .agg(n=pl.len(), first_on=pl.col("order_number").min(), u_last=pl.col("u_last").first())
        .group_by("product_id")
        .agg(
            buyers=pl.len().cast(pl.Int64),
            one_time=(pl.col("n") == 1).cast(pl.Int64).sum(),
            pair_reorders=(pl.col("n") - 1).cast(pl.Int64).sum(),
            chances=(pl.col("u_last") - pl.col("first_on")).cast(pl.Int64).sum(),
        )
    )
    line_frame, pair_frame = pl.collect_all([per_line, per_pair])
    return {"product.lines": line_frame, "product.pairs": pair_frame}


def _product_stats(totals: Partials) -> dict[str, pl.DataFrame]:
    lines, pairs = totals["product.lines"], totals["product.pairs"]
    n = pl.col("cart_n")
    # Sums of integer positions and their squares are exact in float64, so the variance
    # from them is the exact sample variance rounded once.
    var = (pl.col("cart_sq") - pl.col("cart") ** 2 / n) / (n - 1)
    product = (
        lines.select(
            "product_id",
            p_purchases=pl.col("n").cast(pl.UInt32),
            p_reorder_prob=pl.col("reorders") / pl.col("n"),
            p_rebuy_1=pl.col("rebuy_1") / pl.col("rebuy_1_n"),
            p_rebuy_3=pl.col("rebuy_3") / pl.col("rebuy_3_n"),
            p_cart_mean=(pl.col("cart") / n).cast(pl.Float32),
            p_cart_std=pl.when(n > 1).then(var.clip(lower_bound=0).sqrt()).cast(pl.Float32),
            p_hour_mean=(pl.col("hour") / pl.col("hour_n")).cast(pl.Float32),
        )
        .join(
            pairs.select(
                "product_id",
                p_buyers=pl.col("buyers").cast(pl.UInt32),
                p_one_time_share=pl.col("one_time") / pl.col("buyers"),
                p_reorder_after_first=pl.col("pair_reorders") / pl.col("chances"),
            ),
            on="product_id",
            how="left",
        )
        .with_columns(pl.col(pl.Float64, pl.Float32).fill_nan(None))
    )
    return {"product": product}


def _category_partials(history: History) -> Partials:
    if history.products is None:
        return {}
    shelf = history.lines.select("product_id", "is_reorder").join(
        history.products, on="product_id", how="inner"
    )
    aisle, department = pl.collect_all(
        [
            shelf.group_by(key).agg(
                n=pl.len().cast(pl.Int64), r=pl.col("is_reorder").cast(pl.Int64).sum()
            )
            for key in ("aisle_id", "department_id")
        ]
    )
    return {"category.aisle": aisle, "category.department": department}


def _category_stats(totals: Partials) -> dict[str, pl.DataFrame]:
    if "category.aisle" not in totals:
        return {}
    return {
        "aisle": totals["category.aisle"].select(
            "aisle_id", a_reorder_prob=pl.col("r") / pl.col("n")
        ),
        "department": totals["category.department"].select(
            "department_id", d_reorder_prob=pl.col("r") / pl.col("n")
        ),
    }


def _context_partials(history: History) -> Partials:
    counts = history.lines.group_by("product_id", "order_dow").agg(n=pl.len().cast(pl.Int64))
    return {"context.dow": counts.collect()}


def _context_stats(totals: Partials) -> dict[str, pl.DataFrame]:
    dow = totals["context.dow"].with_columns(
        p_dow_share=pl.col("n") / pl.col("n").sum().over("product_id")
    )
    return {"dow": dow.drop("n")}


_Decomposition = tuple[Callable[[History], Partials], Callable[[Partials], dict[str, pl.DataFrame]]]

DECOMPOSED: Mapping[str, _Decomposition] = {
    "product": (_product_partials, _product_stats),
    "category": (_category_partials, _category_stats),
    "context": (_context_partials, _context_stats),
}
"""Family name → (partial aggregates of one shard, statistics from the summed partials)."""

_KEYS = {
    "product.lines": ["product_id"],
    "product.pairs": ["product_id"],
    "category.aisle": ["aisle_id"],
    "category.department": ["department_id"],
    "context.dow": ["product_id", "order_dow"],
}


def partials(history: History, families: Sequence[str]) -> Partials:
    """The partial aggregates of one shard's history for `families` (the map step)."""
    out: Partials = {}
    for name in families:
        if name in DECOMPOSED:
            out |= DECOMPOSED[name][0](history)
    return out


def combine(shards: Sequence[Partials], families: Sequence[str]) -> StatTables:
    """Add the partials of every shard, once, and finish each family's statistics (the reduce)."""
    totals: Partials = {}
    for table in {name for part in shards for name in part}:
        frames = [part[table] for part in shards if table in part]
        keys = _KEYS[table]
        totals[table] = pl.concat(frames).group_by(keys).agg(pl.exclude(keys).sum()).sort(keys)
    return {name: DECOMPOSED[name][1](totals) for name in families if name in DECOMPOSED}


def check_decomposed(names: Sequence[str]) -> None:
    """Raise unless every family in `names` (those whose `fit` has statistics) can be map-reduced."""
    missing = [n for n in names if n not in DECOMPOSED]
    if missing:
        raise ValueError(
            f"feature famil{'y' if len(missing) == 1 else 'ies'} {missing} fit shared statistics "
            "with no map-reduce decomposition in basketcast.distributed.stats: add one (partial "
            "sums per shard and the statistic from their totals), or exclude the family"
        )
