"""A trained item model on a frame with a planted truth, as importance methods see a run."""

from __future__ import annotations

import numpy as np
import polars as pl
import xgboost as xgb

from basketcast.config import ModelConfig, RunConfig
from basketcast.importance import RunArtifacts
from basketcast.model import train_cv

DRIVER, WEAK, COPY = "x_driver", "x_weak", "x_copy"
NOISE = ("noise_a", "noise_b", "noise_c")
FAMILIES = {
    "driver": [DRIVER],
    "weak": [WEAK],
    "copy": [COPY],  # the driver again, plus a little noise
    "noise": list(NOISE),  # pure noise
}


def planted_frame(*, users: int, candidates: int, seed: int) -> pl.DataFrame:
    """Labels follow ``sigmoid(-1 + 2 x_driver + x_weak)``; every user has depths 0 and 1."""
    rng = np.random.default_rng(seed)
    user = np.repeat(np.arange(1, users + 1, dtype=np.int64) * 13 + 5, 2 * candidates)
    depth = np.tile(np.repeat(np.array([0, 1], dtype=np.int8), candidates), users)
    n = user.size
    driver, weak = rng.normal(size=n), rng.normal(size=n)
    p = 1 / (1 + np.exp(-(-1.0 + 2.0 * driver + 1.0 * weak)))
    columns = {
        "order_id": user * 10 + depth,
        "user_id": user,
        "product_id": np.tile(np.arange(1, candidates + 1, dtype=np.int64), 2 * users),
        "depth": pl.Series(depth, dtype=pl.Int8),
        "label": pl.Series((rng.random(n) < p).astype(np.int8), dtype=pl.Int8),
        DRIVER: pl.Series(driver, dtype=pl.Float32),
        WEAK: pl.Series(weak, dtype=pl.Float32),
        COPY: pl.Series(driver + 0.05 * rng.normal(size=n), dtype=pl.Float32),
    }
    for name in NOISE:
        columns[name] = pl.Series(rng.normal(size=n), dtype=pl.Float32)
    return pl.DataFrame(columns)


def fast_model(**overrides: object) -> ModelConfig:
    values: dict[str, object] = {
        "folds": 3,
        "max_depth": 3,
        "eta": 0.3,
        "num_boost_round": 200,
        "early_stopping_rounds": 10,
        "colsample_bytree": 1.0,
        "subsample": 1.0,
        "none_model": False,
        "device": "cpu",
    }
    values.update(overrides)
    return ModelConfig(**values)  # type: ignore[arg-type]


def planted_run(frame: pl.DataFrame) -> RunArtifacts:
    config = RunConfig(threads=1, model=fast_model())
    result = train_cv(frame, config=config.model, threads=1)
    boosters: dict[int, xgb.Booster] = result.boosters
    return RunArtifacts(
        config=config,
        boosters=boosters,
        feature_names=result.feature_names,
        n_folds=result.n_folds,
        fold_seed=result.seed,
        gain=result.importance,
        families={k: list(v) for k, v in FAMILIES.items()},
        frame=frame,
    )
