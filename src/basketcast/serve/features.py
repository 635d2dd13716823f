"""The feature seam as the service uses it: saved statistics, per-user rows, then the context.

`basketcast.features` fits each family's shared statistics once (a run saves
them in ``RUN/stats``) and transforms any set of users with them. The service
splits that transform in two, so that a request only pays for what its
context changes:

1. `base_rows` (per user; rebuilt when the user posts an order): every family
   computed before the first context-scoped family, for the users' histories.
2. `finish` (per request): the context-scoped families (and any after them)
   for the request's day, hour and gap, the assembler's final Float32 cast,
   and the order family's aggregate for the None model.

Together they give exactly the rows of `basketcast.features.transform_users`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from basketcast.config import FeatureConfig
from basketcast.data.dataset import Dataset
from basketcast.features.assemble import check_columns, plan
from basketcast.features.candidates import candidates
from basketcast.features.context import CONTEXT
from basketcast.features.family import FeatureFamily, Scope
from basketcast.features.history import History, cut_history
from basketcast.features.order import ORDER
from basketcast.features.stats import FittedStats
from basketcast.frame import ID_COLUMNS

__all__ = ["ServingFeatures"]

_NO_OPTIMISATION = pl.QueryOptFlags.none()

_FEW_LINES = 100_000
"""Up to this many history lines, `base_rows` joins product statistics sliced to their products
(the same rows; below it the slice costs less than the join of the whole table)."""


def _finished(column: str) -> pl.Expr:
    # The assembler's last step: Float32, and ratios over zero are missing, not inf or NaN.
    value = pl.col(column).cast(pl.Float32)
    return pl.when(value.is_finite()).then(value).alias(column)


@dataclass(frozen=True)
class _ProductStat:
    """A statistic keyed by product, sorted by it, for O(log n) slices of a user's products."""

    frame: pl.DataFrame
    products: np.ndarray

    @classmethod
    def of(cls, frame: pl.DataFrame) -> _ProductStat:
        frame = frame.sort("product_id")
        return cls(frame, frame.get_column("product_id").to_numpy())

    def subset(self, products: np.ndarray) -> pl.DataFrame:
        """Every row of the given products (the ranges of the sorted table, concatenated)."""
        starts = np.searchsorted(self.products, products, side="left")
        lengths = np.searchsorted(self.products, products, side="right") - starts
        if not lengths.any():
            return self.frame.clear()
        offsets = np.cumsum(lengths) - lengths
        index = np.repeat(starts - offsets, lengths) + np.arange(lengths.sum())
        return self.frame[index]


Split = tuple[tuple[FeatureFamily, ...], tuple[FeatureFamily, ...]]


def _split_by_context(families: Sequence[FeatureFamily]) -> Split:
    """(per-user families, per-request families), each in plan order.

    Per request: the context-scoped families and every family that reads their
    columns. Everything else only needs the user's history, so it is computed
    when the user's rows are built, wherever the plan placed it.
    """
    late_columns: set[str] = set()
    base: list[FeatureFamily] = []
    late: list[FeatureFamily] = []
    for family in families:
        if family.scope is Scope.CONTEXT or late_columns.intersection(family.needs):
            late.append(family)
            late_columns.update(family.columns)
        else:
            base.append(family)
    return tuple(base), tuple(late)


class ServingFeatures:
    """The run's feature configuration and statistics, split for serving.

    Parameters
    ----------
    config
        The run's feature configuration (its `exclude` decides the families).
    stats
        The run's saved depth-0 statistics (`FittedStats.load(RUN / "stats")`).
    """

    def __init__(self, config: FeatureConfig, stats: FittedStats) -> None:
        self.config = config
        self.stats = stats
        self._split: Split | None = None
        self._finish_exprs: list[pl.Expr] = []
        # Per-request families read product-keyed statistics only for the user's products:
        # a slice of them gives the same joined rows as the whole table, for far less work.
        self._late_stats: dict[str, dict[str, _ProductStat | pl.DataFrame]] = {}
        # The same for a rebuild of a few users' rows (a posted order): the base families.
        self._base_stats: dict[str, dict[str, _ProductStat | pl.DataFrame]] = {}

    def _plan(self, history: History) -> Split:
        if self._split is None:
            chosen = plan(self.config, history)
            base, late = _split_by_context(chosen.compute)
            output = [c for f in chosen.output for c in f.columns]
            # Built once: on a small batch, building ~70 expressions costs as much as running them.
            self._finish_exprs = [pl.col(*ID_COLUMNS), *(_finished(c) for c in output)]
            for family in late:
                self._late_stats[family.name] = self._sliceable(family)
            for family in base:
                self._base_stats[family.name] = self._sliceable(family)
            self._split = (base, late)
        return self._split

    def _sliceable(self, family: FeatureFamily) -> dict[str, _ProductStat | pl.DataFrame]:
        slice_ok = family.joins_product_stats
        return {
            name: _ProductStat.of(frame) if slice_ok and "product_id" in frame.columns else frame
            for name, frame in self.stats.of(family.name).items()
        }

    @property
    def context_only(self) -> bool:
        """True when the per-request families are exactly the context family (`FastFinish` applies)."""
        if self._split is None:
            raise RuntimeError("base_rows plans the families; call it first")
        return [family.name for family in self._split[1]] == [CONTEXT.name]

    def base_rows(self, dataset: Dataset) -> pl.DataFrame:
        """Candidate rows of every user in `dataset` (history = prior, target = test), before context.

        Sorted by user_id and product_id. Columns the per-request families
        read keep their own dtype; every other column is already finished.
        """
        history = cut_history(dataset, self.stats.depth)
        base, late = self._plan(history)
        frame = candidates(dataset, history).sort("user_id", "product_id")
        # A few users (a rebuild after a post): product statistics for their products only.
        few = dataset.prior.height + dataset.train.height <= _FEW_LINES
        products = (
            np.unique(
                np.concatenate(
                    [t.get_column("product_id").to_numpy() for t in (dataset.prior, dataset.train)]
                )
            )
            if few
            else None
        )
        for family in base:
            before = frame.collect_schema().names()
            if products is None:
                stats = self.stats.of(family.name)
            else:
                stats = {
                    name: stat.subset(products) if isinstance(stat, _ProductStat) else stat
                    for name, stat in self._base_stats[family.name].items()
                }
            frame = family.transform(frame, history, stats)
            check_columns(family, before, frame.collect_schema().names())
        late_inputs = {c for f in late for c in f.needs}
        computed = [c for f in base for c in f.columns]
        return frame.select(
            pl.col(*ID_COLUMNS),
            *(pl.col(c) if c in late_inputs else _finished(c) for c in computed),
        ).collect()

    def finish(self, rows: pl.DataFrame, target: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Finished item rows for some target orders, and the orders' None-model rows.

        `target`: one row per target order (order_id, order_dow,
        order_hour_of_day, days_since_prior_order); `rows` carry those order ids.
        """
        if self._split is None:
            raise RuntimeError("base_rows plans the families; call it first")
        _, late = self._split
        # Unique: a batch's users share products, and a product twice would duplicate rows.
        products = np.unique(rows.get_column("product_id").to_numpy())
        history = History(
            depth=self.stats.depth,
            orders=pl.LazyFrame(),
            lines=pl.LazyFrame(),
            targets=target.lazy(),
            products=None,
        )
        frame = rows.lazy()
        for family in late:
            stats = {
                name: stat.subset(products) if isinstance(stat, _ProductStat) else stat
                for name, stat in self._late_stats[family.name].items()
            }
            frame = family.transform(frame, history, stats)
        items = frame.select(self._finish_exprs)
        orders = ORDER.aggregate(items)
        if ORDER.name in self.config.exclude:
            orders = orders.drop(ORDER.produces(list(items.collect_schema().names())))
        # No query optimisation: the plan is small and already in its best order, and
        # optimising it cost 2-3x the query itself on a request's few hundred rows.
        finished, order = pl.collect_all([items, orders], optimizations=_NO_OPTIMISATION)
        return finished, order
