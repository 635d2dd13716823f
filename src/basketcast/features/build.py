"""Assemble every feature family into the item frame and the order frame."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from basketcast.config import FeatureConfig
from basketcast.data.dataset import Dataset
from basketcast.features import context, registry
from basketcast.features.candidates import candidates
from basketcast.features.category import category_features
from basketcast.features.history import History, cut_history
from basketcast.features.order import order_features
from basketcast.features.product import product_dow_profile, product_features, with_next_purchase
from basketcast.features.user import user_features
from basketcast.features.user_product import user_product_features
from basketcast.model._columns import ID_COLUMNS, feature_names

__all__ = ["ID_COLUMNS", "FeatureFrames", "build_depth", "build_features", "feature_names"]


@dataclass(frozen=True)
class FeatureFrames:
    """`items`: one row per candidate; `orders`: one row per target order (for the None model)."""

    items: pl.DataFrame
    orders: pl.DataFrame


def build_depth(dataset: Dataset, history: History, *, config: FeatureConfig) -> pl.LazyFrame:
    """The candidate frame for the targets of one depth, every feature joined on (lazy),
    rows sorted by order_id and product_id."""
    users = user_features(history)
    sorted_lines = with_next_purchase(history.lines)
    # Sorted while the frame is narrow, then every join keeps that order: sorting the
    # finished frame would move ~70 columns of every row (a third of this stage at full scale).
    frame = (
        candidates(dataset, history)
        .sort("order_id", "product_id")
        .join(users, on="user_id", how="left", maintain_order="left")
        .join(
            product_features(history, sorted_lines),
            on="product_id",
            how="left",
            maintain_order="left",
        )
        .join(
            user_product_features(sorted_lines, users),
            on=["user_id", "product_id"],
            how="left",
            maintain_order="left",
        )
    )
    if history.products is not None:
        per_product, per_user = category_features(history.lines, history.products)
        frame = frame.join(per_product, on="product_id", how="left", maintain_order="left").join(
            per_user, on=["user_id", "aisle_id", "department_id"], how="left", maintain_order="left"
        )
    if config.context_features:
        frame = context.with_context(frame, history.targets, product_dow_profile(history))
    known = [c for c in registry.DESCRIPTIONS if c in frame.collect_schema().names()]
    # Ratios over zero (a user whose orders all came on one day, say) are missing, not inf or NaN.
    finite = (pl.col(c).cast(pl.Float32) for c in known)
    return frame.select(
        pl.col(*ID_COLUMNS),
        *(pl.when(f.is_finite()).then(f).alias(c) for f, c in zip(finite, known, strict=True)),
    )


def build_features(
    dataset: Dataset, *, config: FeatureConfig | None = None, engine: str = "auto"
) -> FeatureFrames:
    """Candidates and features for every train/test order and `config.history_targets` history targets.

    Depth k uses only each user's orders before their k-th-from-last prior
    order, so no target ever sees its own lines or anything later.
    """
    config = config or FeatureConfig()
    parts = []
    for depth in range(config.history_targets + 1):
        history = cut_history(dataset, depth)
        # Each depth comes sorted by order and product (a stable row order for reproducible
        # models), and the depths are stacked without a copy.
        plan = build_depth(dataset, history, config=config)
        parts.append(plan.collect(engine=engine))  # type: ignore[call-overload]
    items = pl.concat(parts, how="vertical", rechunk=False)
    orders = order_features(items.lazy()).collect()
    return FeatureFrames(items=items, orders=orders)
