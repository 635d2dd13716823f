"""The seam the Dask path uses from `basketcast.features`: which families run, fit, transform."""

from __future__ import annotations

import polars as pl

from basketcast.config import FeatureConfig
from basketcast.data.dataset import Dataset
from basketcast.distributed.stats import DECOMPOSED, check_decomposed
from basketcast.features.assemble import fit_history, order_frame, plan, transform_history
from basketcast.features.history import History
from basketcast.features.stats import FittedStats

__all__ = ["families", "fit_whole", "order_frame", "transform_depth"]


def families(config: FeatureConfig, history: History) -> tuple[str, ...]:
    """The families `config` computes on `history`; raises if one fits statistics not map-reducible."""
    chosen = plan(config, history).compute
    fitted = [f.name for f in chosen if f.name not in DECOMPOSED and f.fit(history)]
    check_decomposed(fitted)
    return tuple(f.name for f in chosen)


def transform_depth(
    dataset: Dataset, history: History, stats: FittedStats, config: FeatureConfig
) -> pl.LazyFrame:
    """The item frame of the users in `dataset` at `history.depth`, from statistics fitted elsewhere."""
    return transform_history(dataset, history, stats, config)


def fit_whole(history: History, config: FeatureConfig) -> FittedStats:
    """The statistics of one pass over `history` (the reference the map-reduce must equal)."""
    return fit_history(history, plan(config, history).compute)
