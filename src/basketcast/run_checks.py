"""Checks a run makes before it writes anything, and the order sets of its submissions.

- `check_run_inputs`: `truth.csv` against the test orders, and folds that
  every hold users to train on, in the validate stage, so a run never fails
  after training on something it could have seen at the start.
- `target_orders` / `complete_orders`: which target orders a submission
  answers (``test`` by default, as `truth.csv`), and a ``None`` basket for a
  target order with no candidates (a user without earlier orders, whose
  true answer is ``None`` by definition).
- `thread_note`: says when the ``threads`` budget could not reach Polars.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

import polars as pl

from basketcast.config import RunConfig
from basketcast.data.dataset import Dataset
from basketcast.errors import UsageError

__all__ = ["OrderSet", "check_run_inputs", "complete_orders", "target_orders", "thread_note"]

OrderSet = Literal["test", "train", "all", "next"]


def check_run_inputs(dataset: Dataset, data: Path, config: RunConfig) -> None:
    """Raise before training when `truth.csv` does not fit the data or a fold would be empty."""
    from basketcast.data.truth import check_truth
    from basketcast.model.folds import assign_folds

    truth = data / "truth.csv"
    if truth.exists():
        check_truth(dataset, truth)
    users = dataset.orders.filter(pl.col("eval_set") == "train").get_column("user_id").unique()
    folds = config.model.folds
    if users.len() == 0:
        raise UsageError(f"{data}: no user has a train order, so there is nothing to train on")
    present = set(assign_folds(users.sort(), folds=folds, seed=config.seed).unique().to_list())
    empty = [f for f in config.model.folds_to_train if f not in present]
    if empty:
        raise UsageError(
            f"model.folds = {folds}: fold(s) {empty[:5]} would hold none of the "
            f"{users.len():,} users with a train order in {data}; use fewer folds"
        )


def target_orders(dataset: Dataset, orders: OrderSet) -> pl.DataFrame:
    """The ids (``order_id``) of the target orders of one set, sorted."""
    if orders not in ("test", "train", "all"):
        raise UsageError(f"orders must be 'test', 'train' or 'all', not {orders!r}")
    kinds = ["test", "train"] if orders == "all" else [orders]
    return (
        dataset.orders.filter(pl.col("eval_set").cast(pl.String).is_in(kinds))
        .select(pl.col("order_id").cast(pl.Int64))
        .sort("order_id")
    )


def complete_orders(
    submission: pl.DataFrame, dataset: Dataset, *, orders: OrderSet
) -> pl.DataFrame:
    """`submission` restricted to the chosen target orders, with ``None`` for those it lacks."""
    chosen = target_orders(dataset, orders)
    answered = submission.with_columns(pl.col("order_id").cast(pl.Int64))
    return (
        chosen.join(answered, on="order_id", how="left")
        .with_columns(pl.col("products").fill_null("None"))
        .select("order_id", "products")
        .sort("order_id")
    )


def thread_note(threads: int) -> str | None:
    """A note when `threads` > 0 but Polars' pool, fixed when Polars was imported, has another size."""
    if threads <= 0 or "polars" not in sys.modules:
        return None
    size = pl.thread_pool_size()
    if size == threads:
        return None
    return (
        f"threads = {threads} bounds XGBoost and Numba; Polars' pool was fixed at {size} threads "
        "when Polars was first imported (the basketcast command reads the setting before that; "
        "from Python, set POLARS_MAX_THREADS before importing basketcast)"
    )
