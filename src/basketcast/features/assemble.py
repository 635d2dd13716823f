"""The assembler: which families run, fitting their statistics, and joining their columns onto the candidates."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from basketcast.config import FeatureConfig
from basketcast.data.dataset import Dataset
from basketcast.features.candidates import candidates
from basketcast.features.family import FamilyContractError, FeatureFamily
from basketcast.features.history import History
from basketcast.features.order import ORDER
from basketcast.features.registry import REGISTRY, Registry
from basketcast.features.stats import FittedStats
from basketcast.frame import ID_COLUMNS

__all__ = ["Plan", "check_columns", "fit_history", "order_frame", "plan", "transform_history"]


@dataclass(frozen=True)
class Plan:
    """The item families of one configuration and history.

    ``output``: switched on, in column order. ``compute``: those plus the
    families whose columns they read (`FeatureFamily.needs`), in an order that
    computes every family after the ones it reads.
    """

    output: tuple[FeatureFamily, ...]
    compute: tuple[FeatureFamily, ...]


def plan(config: FeatureConfig, history: History, *, registry: Registry = REGISTRY) -> Plan:
    """Which item families of ``registry`` to compute and which to output, for ``config`` on ``history``."""
    output = tuple(
        f
        for f in registry.chosen(include=config.include, exclude=config.exclude).item_families
        if f.available(history)
    )
    wanted = {f.name for f in output}
    todo = list(output)
    while todo:
        for column in todo.pop().needs:
            provider = registry.family_of(column)
            if not provider.available(history):
                raise ValueError(f"feature column {column!r} cannot be computed without products")
            if provider.name not in wanted:
                wanted.add(provider.name)
                todo.append(provider)
    ordered: list[FeatureFamily] = []
    pending = [f for f in registry.item_families if f.name in wanted]
    while pending:
        done = {c for f in ordered for c in f.columns}
        ready = next((f for f in pending if set(f.needs) <= done), None)
        if ready is None:
            raise ValueError(f"feature families need each other: {[f.name for f in pending]}")
        ordered.append(ready)
        pending.remove(ready)
    return Plan(output=output, compute=tuple(ordered))


def fit_history(
    history: History, families: tuple[FeatureFamily, ...], *, engine: str = "auto"
) -> FittedStats:
    """Fit every family's shared statistics on ``history`` (every user's, one depth), collected together."""
    plans = {(f.name, name): lazy for f in families for name, lazy in f.fit(history).items()}
    frames = pl.collect_all(list(plans.values()), engine=engine)  # type: ignore[call-overload]
    tables: dict[str, dict[str, pl.DataFrame]] = {}
    for (family, name), frame in zip(plans, frames, strict=True):
        tables.setdefault(family, {})[name] = frame
    return FittedStats(depth=history.depth, families=tuple(f.name for f in families), tables=tables)


def check_columns(family: FeatureFamily, before: list[str], after: list[str]) -> None:
    """Raise `FamilyContractError` unless ``family`` added exactly its described columns and removed none."""
    produced = [c for c in after if c not in before]
    problems = []
    removed = [c for c in before if c not in after]
    if removed:
        problems.append(f"removes column(s) {removed}")
    undescribed = [c for c in produced if c not in family.columns]
    if undescribed:
        problems.append(f"produces undescribed column(s) {undescribed} (describe or drop them)")
    absent = [c for c in family.columns if c not in produced]
    if absent:
        problems.append(f"describes column(s) it does not produce {absent}")
    if problems:
        raise FamilyContractError(f"feature family {family.name!r} " + "; ".join(problems))


def transform_history(
    dataset: Dataset,
    history: History,
    stats: FittedStats,
    config: FeatureConfig,
    *,
    registry: Registry = REGISTRY,
) -> pl.LazyFrame:
    """The item frame of ``history``'s targets (lazy), every switched-on family's columns joined on.

    Rows sorted by order_id and product_id; features Float32, non-finite values null.

    Raises
    ------
    FamilyContractError
        When a family adds a column it does not describe, or describes one it does not add.
    """
    chosen = plan(config, history, registry=registry)
    # Sorted while the frame is narrow, then every join keeps that order: sorting the
    # finished frame would move ~70 columns of every row (a third of this stage at full scale).
    frame = candidates(dataset, history).sort("order_id", "product_id")
    for family in chosen.compute:
        before = frame.collect_schema().names()
        frame = family.transform(frame, history, stats.of(family.name))
        check_columns(family, before, frame.collect_schema().names())
    known = [c for f in chosen.output for c in f.columns]
    # Ratios over zero (a user whose orders all came on one day, say) are missing, not inf or NaN.
    finite = (pl.col(c).cast(pl.Float32) for c in known)
    return frame.select(
        pl.col(*ID_COLUMNS),
        *(pl.when(f.is_finite()).then(f).alias(c) for f, c in zip(finite, known, strict=True)),
    )


def order_frame(items: pl.DataFrame, config: FeatureConfig) -> pl.DataFrame:
    """One row per target order for the None model, from the finished item frame."""
    orders = ORDER.aggregate(items.lazy()).collect()
    carried = set(items.columns)  # ids, label, and the user and context columns it keeps
    undescribed = [c for c in orders.columns if c not in carried and c not in ORDER.columns]
    produced = [c for c in orders.columns if c in ORDER.columns]
    expected = ORDER.produces(items.columns)
    if undescribed or produced != expected:
        raise FamilyContractError(
            f"feature family 'order' produces {produced} and undescribed {undescribed}; "
            f"its columns for this item frame are {expected}"
        )
    if ORDER.name in config.exclude:
        orders = orders.drop(expected)
    return orders
