"""Each user's next order, for `predict --orders next` on a live history.

A run's data holds one target order per user (Instacart's train or test
order). A shop's live history does not: it holds what each customer bought
so far, and the question is their *next* basket. `with_next_orders` turns any
validated history into one whose test orders are exactly those next orders:

- a user's pending test order is their next order, as it is;
- a user whose last order is a train order (its basket known) gets that order
  back as history (its products join the prior ones) and a new order after it;
- a user with prior orders only gets a new order after the last one.

A new order's day, hour and gap are the user's *typical* ones, as `basketcast
serve` answers a next-basket request without a context: the most frequent day
of week and hour of day (ties: the smallest) and the median gap between their
orders (missing when they have one order, whose gap the data cannot know). Its
`order_id` continues after the largest id in the data, in user order.
"""

from __future__ import annotations

import dataclasses

import polars as pl

from basketcast.data.dataset import Dataset

__all__ = ["NEXT_CONTEXT", "with_next_orders"]

NEXT_CONTEXT = ("order_dow", "order_hour_of_day", "days_since_prior_order")
"""The context columns a new order takes from the user's typical ones."""


def _mode(column: str) -> pl.Expr:
    """The most frequent value, the smallest among ties."""
    return pl.col(column).mode().min()


def with_next_orders(dataset: Dataset) -> Dataset:
    """`dataset` with every user's next order as its test order (see the module docstring)."""
    orders = dataset.orders
    eval_set = pl.col("eval_set").cast(pl.String)
    pending = orders.filter(eval_set == "test").get_column("user_id")
    # Known train baskets become history: the next order is the one after them.
    history = orders.with_columns(
        pl.when(eval_set == "train")
        .then(pl.lit("prior"))
        .otherwise(eval_set)
        .cast(orders.schema["eval_set"])
        .alias("eval_set")
    )
    past = history.filter(~pl.col("user_id").is_in(pending.implode()))
    typical = (
        past.sort("user_id", "order_number")
        .group_by("user_id", maintain_order=True)
        .agg(
            pl.col("order_number").max() + 1,
            _mode("order_dow").alias("order_dow"),
            _mode("order_hour_of_day").alias("order_hour_of_day"),
            pl.col("days_since_prior_order").drop_nulls().median().alias("days_since_prior_order"),
        )
    )
    first_id = int(orders.get_column("order_id").max() or 0) + 1  # type: ignore[arg-type]
    new = typical.with_row_index("order_id", offset=first_id).with_columns(
        pl.lit("test").alias("eval_set")
    )
    new = new.select([pl.col(c).cast(dtype) for c, dtype in orders.schema.items()])
    prior = pl.concat([dataset.prior, dataset.train.select(dataset.prior.columns)])
    return dataclasses.replace(
        dataset,
        orders=pl.concat([history, new]).sort("user_id", "order_number"),
        prior=prior,
        train=dataset.train.clear(),
    )
