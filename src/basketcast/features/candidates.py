"""Candidates: one row per (target order, product the user bought before), with its label."""

from __future__ import annotations

import polars as pl

from basketcast.data.dataset import Dataset
from basketcast.features.history import History

__all__ = ["candidates", "target_lines"]


def target_lines(dataset: Dataset, history: History) -> pl.LazyFrame:
    """The lines of the target orders at this depth (train lines at depth 0, prior lines deeper)."""
    source = dataset.train if history.depth == 0 else dataset.prior
    return (
        source.lazy()
        .select("order_id", "product_id")
        .join(history.targets.select("order_id"), on="order_id", how="semi")
    )


def candidates(dataset: Dataset, history: History) -> pl.LazyFrame:
    """order_id, user_id, product_id, depth, label (1/0; null for test orders)."""
    bought = history.lines.select("user_id", "product_id").unique()
    pairs = history.targets.select("order_id", "user_id").join(bought, on="user_id", how="inner")
    in_target = target_lines(dataset, history).with_columns(hit=pl.lit(1, pl.Int8))
    eval_set = dataset.orders.lazy().select("order_id", "eval_set")
    return (
        pairs.join(in_target, on=["order_id", "product_id"], how="left")
        .join(eval_set, on="order_id", how="left")
        .with_columns(
            depth=pl.lit(history.depth, pl.Int8),
            label=pl.when(pl.col("eval_set") == "test")
            .then(None)
            .otherwise(pl.col("hit").fill_null(0))
            .cast(pl.Int8),
        )
        .select("order_id", "user_id", "product_id", "depth", "label")
    )
