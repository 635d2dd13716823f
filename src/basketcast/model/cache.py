"""A finished training stage on disk: models, out-of-fold/test predictions and metrics, under one key.

The key file is written last, so a stage counts as finished only when every
other file of it is complete; a different key (new data or configuration)
means the stage is trained again.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from basketcast.io import write_frame, write_text
from basketcast.model.predict import load_manifest, load_models, save_models
from basketcast.model.train import CVResult

__all__ = ["load_cv_result", "save_cv_result"]

_TABLES = ("oof", "test", "fold_metrics", "importance")


def save_cv_result(result: CVResult, folder: str | Path, *, prefix: str, key: str) -> None:
    folder = Path(folder)
    stage_file = folder / f"{prefix}_stage.json"
    stage_file.unlink(missing_ok=True)  # the old stage stops counting before anything is replaced
    for name in _TABLES:
        write_frame(getattr(result, name), folder / f"{prefix}_{name}.parquet")
    save_models(result, folder, prefix=prefix)
    stage = {"key": key, "logloss": result.logloss, "auc": result.auc}
    write_text(stage_file, json.dumps(stage, indent=2) + "\n")


def load_cv_result(folder: str | Path, *, prefix: str, key: str) -> CVResult | None:
    """The saved stage when its key matches, else None."""
    folder = Path(folder)
    stage_file = folder / f"{prefix}_stage.json"
    if not stage_file.exists():
        return None
    stage = json.loads(stage_file.read_text())
    if stage.get("key") != key:
        return None
    manifest = load_manifest(folder, prefix=prefix)
    tables = {name: pl.read_parquet(folder / f"{prefix}_{name}.parquet") for name in _TABLES}
    return CVResult(
        boosters=load_models(folder, prefix=prefix),
        feature_names=list(manifest["feature_names"]),
        logloss=float(stage["logloss"]),
        auc=float(stage["auc"]),
        params=dict(manifest.get("params", {})),
        n_folds=int(manifest["n_folds"]),
        seed=int(manifest["seed"]),
        **tables,
    )
