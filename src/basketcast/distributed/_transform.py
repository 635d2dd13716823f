"""The per-shard transform with statistics fitted elsewhere.

Temporary twin of `features.build.build_depth` with the shared statistics
passed in, until the feature-families seam (fit / transform) lands; then this
module only forwards to it.
"""

from __future__ import annotations

import polars as pl

from basketcast.config import FeatureConfig
from basketcast.data.dataset import Dataset
from basketcast.distributed.stats import StatTables
from basketcast.features import context, registry
from basketcast.features.candidates import candidates
from basketcast.features.category import category_features
from basketcast.features.history import History
from basketcast.features.order import order_features
from basketcast.features.product import with_next_purchase
from basketcast.features.user import user_features
from basketcast.features.user_product import user_product_features
from basketcast.model._columns import ID_COLUMNS

__all__ = ["order_frame", "transform_depth"]


def transform_depth(
    dataset: Dataset, history: History, stats: StatTables, config: FeatureConfig
) -> pl.LazyFrame:
    users = user_features(history)
    sorted_lines = with_next_purchase(history.lines)
    frame = (
        candidates(dataset, history)
        .sort("order_id", "product_id")
        .join(users, on="user_id", how="left", maintain_order="left")
        .join(
            stats["product"]["product"].lazy(), on="product_id", how="left", maintain_order="left"
        )
        .join(
            user_product_features(sorted_lines, users),
            on=["user_id", "product_id"],
            how="left",
            maintain_order="left",
        )
    )
    if history.products is not None:
        _, per_user = category_features(history.lines, history.products)
        per_product = history.products.join(
            stats["category"]["aisle"].lazy(), on="aisle_id", how="left"
        ).join(stats["category"]["department"].lazy(), on="department_id", how="left")
        frame = frame.join(per_product, on="product_id", how="left", maintain_order="left").join(
            per_user, on=["user_id", "aisle_id", "department_id"], how="left", maintain_order="left"
        )
    if config.context_features:
        frame = context.with_context(frame, history.targets, stats["context"]["dow"].lazy())
    known = [c for c in registry.DESCRIPTIONS if c in frame.collect_schema().names()]
    finite = (pl.col(c).cast(pl.Float32) for c in known)
    return frame.select(
        pl.col(*ID_COLUMNS),
        *(pl.when(f.is_finite()).then(f).alias(c) for f, c in zip(finite, known, strict=True)),
    )


def order_frame(items: pl.DataFrame, config: FeatureConfig) -> pl.DataFrame:
    return order_features(items.lazy()).collect()


def families(config: FeatureConfig) -> tuple[str, ...]:
    """The families whose statistics this configuration fits."""
    return (
        ("product", "category", "context") if config.context_features else ("product", "category")
    )


def fit_whole(history: History, names: tuple[str, ...]) -> StatTables:
    """The statistics fitted in one pass over `history` (the reference the map-reduce must equal)."""
    from basketcast.features.product import product_dow_profile, product_features

    out: StatTables = {}
    sorted_lines = with_next_purchase(history.lines)
    if "product" in names:
        out["product"] = {"product": product_features(history, sorted_lines).collect()}
    if "category" in names and history.products is not None:
        shelf = history.lines.select("product_id", "is_reorder").join(
            history.products, on="product_id", how="inner"
        )
        out["category"] = {
            "aisle": shelf.group_by("aisle_id")
            .agg(a_reorder_prob=pl.col("is_reorder").mean())
            .collect(),
            "department": shelf.group_by("department_id")
            .agg(d_reorder_prob=pl.col("is_reorder").mean())
            .collect(),
        }
    if "context" in names:
        out["context"] = {"dow": product_dow_profile(history).collect()}
    return out
