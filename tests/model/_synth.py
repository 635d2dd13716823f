"""Synthetic feature frames with a planted signal, shared by the model tests."""

from __future__ import annotations

import numpy as np
import polars as pl

from basketcast.config import ModelConfig

STRONG, WEAK = "x_strong", "x_weak"
NOISE = ("noise_a", "noise_b", "noise_c")


def planted_frame(
    *, users: int, rows_per_order: int, seed: int, test_share: float = 0.1, item: bool = True
) -> tuple[pl.DataFrame, np.ndarray]:
    """A feature frame whose labels follow ``sigmoid(-1 + 2 x_strong + x_weak)``.

    Every user has a depth-0 target (a test order, label null, for ``test_share``
    of the users) and a depth-1 history target, each with ``rows_per_order``
    candidate products (one row per order when ``item`` is False: the None frame).
    Returns the frame and the true probabilities, row-aligned.
    """
    rng = np.random.default_rng(seed)
    per_order = rows_per_order if item else 1
    user = np.repeat(np.arange(1, users + 1, dtype=np.int64) * 7 + 1000, 2 * per_order)
    depth = np.tile(np.repeat(np.array([0, 1], dtype=np.int8), per_order), users)
    order = (user * 10 + depth).astype(np.int64)
    n = len(user)
    strong = rng.normal(size=n)
    weak = rng.normal(size=n)
    p_true = 1 / (1 + np.exp(-(-1.0 + 2.0 * strong + 1.0 * weak)))
    label = (rng.random(n) < p_true).astype(np.int8)
    is_test_user = np.isin(
        user, rng.choice(np.unique(user), int(test_share * users), replace=False)
    )
    columns: dict[str, pl.Series] = {
        "order_id": pl.Series(order),
        "user_id": pl.Series(user),
    }
    if item:
        product = np.tile(np.arange(1, per_order + 1, dtype=np.int64), 2 * users) * 11
        columns["product_id"] = pl.Series(product)
    columns["depth"] = pl.Series(depth, dtype=pl.Int8)
    columns["label"] = pl.Series(label, dtype=pl.Int8).scatter(
        np.flatnonzero(is_test_user & (depth == 0)), None
    )
    weak_seen = np.where(rng.random(n) < 0.05, np.nan, weak)  # some missing values
    columns[STRONG] = pl.Series(strong, dtype=pl.Float32)
    columns[WEAK] = pl.Series(weak_seen, dtype=pl.Float32).fill_nan(None)
    for name in NOISE:
        columns[name] = pl.Series(rng.normal(size=n), dtype=pl.Float32)
    return pl.DataFrame(columns), p_true


def fast_config(**overrides: object) -> ModelConfig:
    """Small trees and a high learning rate: seconds, not minutes, on 2 cores."""
    values: dict[str, object] = {
        "folds": 5,
        "max_depth": 3,
        "eta": 0.3,
        "num_boost_round": 200,
        "early_stopping_rounds": 10,
        "colsample_bytree": 1.0,
        "seed": 0,
    }
    values.update(overrides)
    return ModelConfig(**values)  # type: ignore[arg-type]
