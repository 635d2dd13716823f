"""The feature code as the service uses it: frozen statistics, per-user rows, then the context.

A user's candidate rows are built in two steps so that a request only pays for
what its context changes:

1. `base_rows` (per user, recomputed when the user posts an order): every
   feature family except the target-context one, from the users' histories
   and the frozen product-level statistics.
2. `with_context` (per request): the context family for the request's day,
   hour and gap, then the assembler's final cast, exactly as the batch does.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import polars as pl

from basketcast.data.dataset import Dataset
from basketcast.features import context, registry
from basketcast.features.candidates import candidates
from basketcast.features.category import category_features
from basketcast.features.history import cut_history
from basketcast.features.order import order_features
from basketcast.features.product import product_dow_profile, product_features, with_next_purchase
from basketcast.features.user import user_features
from basketcast.features.user_product import user_product_features
from basketcast.model._columns import ID_COLUMNS

__all__ = ["FrozenStats", "base_rows", "fit_stats", "with_context"]

# Columns the context family reads: kept in their own dtype until it has run, as in the batch.
_CONTEXT_INPUTS = (
    "u_days_mean",
    "u_hour_mean",
    "p_hour_mean",
    "up_days_since_last_hist",
    "up_cycle_days",
)


@dataclass(frozen=True)
class FrozenStats:
    """Product-level statistics fitted once (depth 0 of the run's data) and never refitted."""

    products: pl.DataFrame
    shelves: pl.DataFrame | None
    dow_profile: pl.DataFrame
    catalogue: pl.DataFrame | None

    @functools.cached_property
    def profile_by_dow(self) -> dict[int, pl.DataFrame]:
        """The day-of-week profile split by day: a request joins only its own day's rows."""
        return {
            int(key[0]): part
            for key, part in self.dow_profile.partition_by("order_dow", as_dict=True).items()
        } | {d: self.dow_profile.clear() for d in range(7) if d not in self._days}

    @functools.cached_property
    def _days(self) -> set[int]:
        return set(self.dow_profile.get_column("order_dow").unique().to_list())


def fit_stats(dataset: Dataset) -> FrozenStats:
    """The product-level statistics of the data's depth-0 history (what `predict` uses)."""
    history = cut_history(dataset, 0)
    lines = with_next_purchase(history.lines)
    shelves = None
    if history.products is not None:
        shelves = category_features(history.lines, history.products)[0].collect()
    return FrozenStats(
        products=product_features(history, lines).collect(),
        shelves=shelves,
        dow_profile=product_dow_profile(history).collect(),
        catalogue=None if history.products is None else history.products.collect(),
    )


def _finish(column: str) -> pl.Expr:
    # The assembler's last step: Float32, and ratios over zero are missing, not inf or NaN.
    value = pl.col(column).cast(pl.Float32)
    return pl.when(value.is_finite()).then(value).alias(column)


def base_rows(dataset: Dataset, stats: FrozenStats) -> pl.DataFrame:
    """Depth-0 candidate rows of every user in `dataset`, all families but the context one.

    Sorted by user_id and product_id; columns the context family reads keep
    their dtype, every other feature is already in its final Float32 form.
    """
    history = cut_history(dataset, 0)
    users = user_features(history)
    sorted_lines = with_next_purchase(history.lines)
    frame = (
        candidates(dataset, history)
        .sort("user_id", "product_id")
        .join(users, on="user_id", how="left", maintain_order="left")
        .join(stats.products.lazy(), on="product_id", how="left", maintain_order="left")
        .join(
            user_product_features(sorted_lines, users),
            on=["user_id", "product_id"],
            how="left",
            maintain_order="left",
        )
    )
    if stats.shelves is not None and history.products is not None:
        per_user = category_features(history.lines, history.products)[1]
        frame = frame.join(
            stats.shelves.lazy(), on="product_id", how="left", maintain_order="left"
        ).join(
            per_user, on=["user_id", "aisle_id", "department_id"], how="left", maintain_order="left"
        )
    names = frame.collect_schema().names()
    known = [c for c in registry.DESCRIPTIONS if c in names]
    return frame.select(
        pl.col(*ID_COLUMNS),
        *(pl.col(c) if c in _CONTEXT_INPUTS else _finish(c) for c in known),
    ).collect()


def with_context(
    rows: pl.DataFrame, target: pl.DataFrame, stats: FrozenStats
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One user's finished candidate rows for a target order, and the order's None-model row.

    `target`: order_id, order_dow, order_hour_of_day, days_since_prior_order
    (one row); `rows` carry that order_id. One Polars plan for both outputs:
    on a few dozen rows the per-query overhead is the whole cost.
    """
    dow = int(target.get_column("order_dow")[0])
    profile = stats.profile_by_dow[dow].lazy().filter(
        pl.col("product_id").is_in(rows.get_column("product_id").implode())
    )
    frame = context.with_context(rows.lazy(), target.lazy(), profile)
    names = frame.collect_schema().names()
    known = [c for c in registry.DESCRIPTIONS if c in names]
    items = frame.select(pl.col(*ID_COLUMNS), *(_finish(c) for c in known))
    finished, orders = pl.collect_all([items, order_features(items)])
    return finished, orders
