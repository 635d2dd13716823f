"""The public feature seam: fit the shared statistics, transform some users, or build everything."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import polars as pl

from basketcast.config import FeatureConfig
from basketcast.data.dataset import Dataset
from basketcast.features.assemble import fit_history, order_frame, plan, transform_history
from basketcast.features.history import History, cut_history, for_targets
from basketcast.features.stats import FittedStats
from basketcast.frame import ID_COLUMNS, feature_names

__all__ = [
    "ID_COLUMNS",
    "FeatureFrames",
    "build_depths",
    "build_features",
    "feature_names",
    "fit_stats",
    "select_users",
    "transform_users",
]


@dataclass(frozen=True)
class FeatureFrames:
    """`items`: one row per candidate; `orders`: one row per target order (for the None model);
    `stats`: the depth-0 statistics the depth-0 rows were computed with."""

    items: pl.DataFrame
    orders: pl.DataFrame
    stats: FittedStats | None = None


def select_users(dataset: Dataset, users: pl.Series | list[int]) -> Dataset:
    """The part of ``dataset`` that belongs to ``users``: their orders and lines, every product.

    What a shard or a single user is transformed from.
    """
    ids = pl.Series("user_id", users, dtype=dataset.orders.schema["user_id"])
    orders = dataset.orders.filter(pl.col("user_id").is_in(ids.implode()))
    theirs = orders.select("order_id")
    return replace(
        dataset,
        orders=orders,
        prior=dataset.prior.join(theirs, on="order_id", how="semi"),
        train=dataset.train.join(theirs, on="order_id", how="semi"),
    )


def fit_stats(
    dataset: Dataset, *, config: FeatureConfig | None = None, depth: int = 0, engine: str = "auto"
) -> FittedStats:
    """The statistics shared across users, fitted on every user's visible history at ``depth``.

    Fits the families `config` switches on and the ones they read from.
    """
    config = config or FeatureConfig()
    history = cut_history(dataset, depth)
    return fit_history(history, plan(config, history).compute, engine=engine)


def transform_users(
    dataset: Dataset,
    stats: FittedStats,
    *,
    config: FeatureConfig | None = None,
    engine: str = "auto",
) -> FeatureFrames:
    """The feature rows of the users in ``dataset``, at ``stats.depth``, with shared statistics from ``stats``.

    ``dataset`` may hold any subset of users (one user, a shard, everyone):
    each user's rows depend only on that user's history and ``stats``, so
    they equal that user's rows in a build over everyone. Nothing shared is
    recomputed from ``dataset``; its products table is read only for the
    product → aisle/department map.
    """
    config = config or FeatureConfig()
    history = cut_history(dataset, stats.depth)
    items = transform_history(dataset, history, stats, config).collect(engine=engine)  # type: ignore[call-overload]
    return FeatureFrames(items=items, orders=order_frame(items, config), stats=stats)


LINES_PER_PART = 8_000_000
"""History lines behind one transformed part of a depth: 4 parts per depth at full scale (~32M lines)."""


def build_depths(
    dataset: Dataset,
    *,
    config: FeatureConfig | None = None,
    engine: str = "auto",
    lines_per_part: int = LINES_PER_PART,
) -> Iterator[tuple[int, pl.DataFrame, FittedStats]]:
    """The item rows of each depth ``0..config.history_targets``, in parts: (depth, part, its statistics).

    Depth k uses only each user's orders before their k-th-from-last prior
    order, so no target ever sees its own lines or anything later; each
    depth's shared statistics are fitted on that depth's visible history.
    A depth is transformed in parts of about `lines_per_part` history lines
    (contiguous ranges of target order ids, so the parts, stacked, are the
    depth's rows sorted by order and product). A caller that writes each
    part away before taking the next holds one part's build in memory, not
    a whole depth (`basketcast run` does).
    """
    config = (config or FeatureConfig()).resolved(users=dataset.n_users)
    for depth in range(config.targets + 1):
        history = cut_history(dataset, depth)
        stats = fit_history(history, plan(config, history).compute, engine=engine)
        for targets in _target_slices(history, lines_per_part):
            part_history = for_targets(history, targets) if targets is not None else history
            part = transform_history(dataset, part_history, stats, config).collect(engine=engine)  # type: ignore[call-overload]
            yield depth, part, stats
            # A suspended generator keeps its locals alive through the next part's build:
            # let the rows and the part's history lines go first.
            del part, part_history
        del history, stats


def _target_slices(history: History, lines_per_part: int) -> Iterator[pl.DataFrame | None]:
    """Contiguous order-id ranges of the depth's targets, each with about `lines_per_part` lines.

    One ``None`` (the whole history, no copy) when the depth fits in one part.
    """
    lines = history.lines.select(pl.len()).collect().item()
    parts = -(-lines // lines_per_part)
    if parts <= 1:
        yield None
        return
    targets = history.targets.collect().sort("order_id")
    step = -(-targets.height // parts)
    for start in range(0, targets.height, step):
        yield targets.slice(start, step)


def build_features(
    dataset: Dataset, *, config: FeatureConfig | None = None, engine: str = "auto"
) -> FeatureFrames:
    """Candidates and features for every train/test order and `config.history_targets` history targets.

    The depths of `build_depths`, stacked without a copy; ``.stats`` holds
    the depth-0 statistics.
    """
    config = (config or FeatureConfig()).resolved(users=dataset.n_users)
    parts = []
    stats0: FittedStats | None = None
    for depth, part, stats in build_depths(dataset, config=config, engine=engine):
        parts.append(part)
        if depth == 0:
            stats0 = stats
    items = pl.concat(parts, how="vertical", rechunk=False)
    return FeatureFrames(items=items, orders=order_frame(items, config), stats=stats0)
