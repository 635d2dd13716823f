"""The functions that run on the workers, one shard each: plain functions of files and small values.

They read their shard from disk, write their output atomically, and return
only small things (partial aggregates, counts), so the client never holds a
shard's rows. Input errors travel back as `ShippedDataError` (a `DataError`
does not survive pickling with its message) and become a `DataError` again
on the client.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import polars as pl

from basketcast.config import FeatureConfig
from basketcast.data.dataset import DataError, Dataset, Problem
from basketcast.data.load import load_dataset
from basketcast.distributed import stats as stats_mod
from basketcast.features.history import History, cut_history
from basketcast.io import write_frame

__all__ = ["ShippedDataError", "shard_partials", "transform_shard", "unship"]

F = TypeVar("F", bound=Callable[..., Any])


class ShippedDataError(Exception):
    """A `DataError` in a form that pickles: args are (problems, source)."""

    def __init__(self, problems: tuple[Problem, ...], source: str) -> None:
        super().__init__(problems, source)

    def to_data_error(self) -> DataError:
        problems, source = self.args
        return DataError(problems, source=source)


def shipped(func: F) -> F:
    """Run `func` on a worker; a `DataError` comes back as `ShippedDataError`."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except DataError as exc:
            raise ShippedDataError(exc.problems, exc.source) from None

    return wrapper  # type: ignore[return-value]


def unship(exc: BaseException) -> BaseException:
    """The client-side error for an exception a worker raised."""
    return exc.to_data_error() if isinstance(exc, ShippedDataError) else exc


def _histories(dataset: Dataset, config: FeatureConfig) -> list[History]:
    return [cut_history(dataset, depth) for depth in range(config.history_targets + 1)]


@shipped
def shard_partials(
    folder: str, *, config: FeatureConfig, families: tuple[str, ...]
) -> list[stats_mod.Partials]:
    """Validate one shard and return its partial aggregates, one set per depth (the map step)."""
    dataset = load_dataset(folder)
    return [stats_mod.partials(h, families) for h in _histories(dataset, config)]


@shipped
def transform_shard(
    folder: str,
    items_out: str,
    orders_out: str,
    *,
    config: FeatureConfig,
    stats: list[stats_mod.StatTables],
) -> dict[str, int]:
    """The item and order frames of one shard's users from the combined statistics, written as Parquet."""
    from basketcast.distributed._transform import order_frame, transform_depth

    dataset = load_dataset(folder)
    parts = [
        transform_depth(dataset, history, stats[history.depth], config).collect()
        for history in _histories(dataset, config)
    ]
    items = pl.concat(parts, how="vertical", rechunk=False)
    orders = order_frame(items, config)
    write_frame(items, Path(items_out), compression="lz4")
    write_frame(orders, Path(orders_out), compression="lz4")
    return {"items": items.height, "orders": orders.height}
