"""A finished training stage on disk: models, out-of-fold/test predictions and metrics, under one key.

Stored as a `basketcast.stage_cache.StageCache` entry: the manifest (sizes
and sha256 of every file) is written last, so a stage counts as finished only
when every file of it is complete and intact. A different key (new data or
configuration) or a damaged file means the stage is trained again.
"""

from __future__ import annotations

import polars as pl
import xgboost as xgb

from basketcast.io import write_frame
from basketcast.model.predict import load_manifest, load_models, save_models
from basketcast.model.train import CVResult
from basketcast.stage_cache import StageCache

__all__ = ["load_cv_result", "model_files", "save_cv_result"]

_TABLES = ("oof", "test", "fold_metrics", "importance")


def model_files(result: CVResult, prefix: str) -> list[str]:
    """The file names `save_models` writes for `result`: one per fold, then the manifest."""
    return [f"{prefix}_fold{f}.ubj" for f in sorted(result.boosters)] + [f"{prefix}_models.json"]


def save_cv_result(result: CVResult, cache: StageCache, *, prefix: str, key: str) -> None:
    """Write `result` as the cache entry for `key` (the old entry stops counting first)."""
    with cache.entry(key) as entry:
        for name in _TABLES:
            write_frame(getattr(result, name), entry.path(f"{prefix}_{name}.parquet"))
        save_models(result, cache.folder, prefix=prefix)
        for name in model_files(result, prefix):
            entry.path(name)
        entry.meta.update(logloss=result.logloss, auc=result.auc)


def load_cv_result(cache: StageCache, *, prefix: str, key: str) -> CVResult | None:
    """The saved stage when its key matches and every file is intact, else None (`cache.note` says why)."""
    files = cache.load(key)
    if files is None:
        return None
    folder = cache.folder
    try:
        manifest = load_manifest(folder, prefix=prefix)
        tables = {name: pl.read_parquet(folder / f"{prefix}_{name}.parquet") for name in _TABLES}
        boosters = load_models(folder, prefix=prefix)
    except (OSError, ValueError, KeyError, pl.exceptions.PolarsError, xgb.core.XGBoostError) as exc:
        cache.invalidate(f"{folder} could not be read ({type(exc).__name__}); recomputing")
        return None
    return CVResult(
        boosters=boosters,
        feature_names=list(manifest["feature_names"]),
        logloss=float(cache.meta["logloss"]),
        auc=float(cache.meta["auc"]),
        params=dict(manifest.get("params", {})),
        n_folds=int(manifest["n_folds"]),
        seed=int(manifest["seed"]),
        **tables,
    )
