"""Saving, loading and applying fold models.

Models are stored as XGBoost UBJSON (``{prefix}_fold{f}.ubj``, never pickle)
next to a small JSON manifest (``{prefix}_models.json``) with the feature
names, the folds and the parameters. Every file is written atomically and the
manifest last, so a folder whose manifest exists holds a complete model set;
the manifest, not the folder listing, says which folds belong to it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import xgboost as xgb

from basketcast.io import atomic_path, write_text
from basketcast.model._matrix import feature_matrix
from basketcast.model.train import CVResult

__all__ = ["load_manifest", "load_models", "predict_frame", "save_models"]

_FORMAT_VERSION = 1
_PREFIX = re.compile(r"^[A-Za-z0-9_-]+$")


def _check_prefix(prefix: str) -> str:
    if not _PREFIX.match(prefix):
        raise ValueError(f"model prefix must be letters, digits, '_' or '-', got {prefix!r}")
    return prefix


def _manifest_path(folder: Path, prefix: str) -> Path:
    return folder / f"{_check_prefix(prefix)}_models.json"


def _model_path(folder: Path, prefix: str, fold: int) -> Path:
    return folder / f"{_check_prefix(prefix)}_fold{fold}.ubj"


def save_models(result: CVResult, folder: str | Path, *, prefix: str = "item") -> Path:
    """Write every fold model of ``result`` and its manifest into ``folder``.

    Parameters
    ----------
    result
        The output of `train_cv`.
    folder
        Created when missing.
    prefix
        Names the model set, e.g. ``item`` or ``none``.

    Returns
    -------
    Path
        The manifest's path.
    """
    folder = Path(folder)
    manifest = _manifest_path(folder, prefix)
    best = dict(
        zip(result.fold_metrics["fold"], result.fold_metrics["best_iteration"], strict=True)
    )
    for fold, booster in sorted(result.boosters.items()):
        with atomic_path(_model_path(folder, prefix, fold)) as tmp:
            tmp.write_bytes(bytes(booster.save_raw(raw_format="ubj")))
    info = {
        "format_version": _FORMAT_VERSION,
        "prefix": prefix,
        "xgboost_version": xgb.__version__,
        "feature_names": list(result.feature_names),
        "folds": sorted(result.boosters),
        "n_folds": result.n_folds,
        "seed": result.seed,
        "best_iteration": {str(f): int(best[f]) for f in sorted(result.boosters) if f in best},
        "params": result.params,
    }
    return write_text(manifest, json.dumps(info, indent=2) + "\n")


def load_manifest(folder: str | Path, *, prefix: str = "item") -> dict[str, Any]:
    """Read the manifest that `save_models` wrote (feature names, folds, parameters)."""
    path = _manifest_path(Path(folder), prefix)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no saved '{prefix}' models here (manifest missing)")
    info: dict[str, Any] = json.loads(path.read_text())
    if info.get("format_version") != _FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported format_version {info.get('format_version')!r}")
    return info


def load_models(folder: str | Path, prefix: str = "item") -> dict[int, xgb.Booster]:
    """Load the fold models named by the manifest, as ``fold -> Booster``."""
    folder = Path(folder)
    info = load_manifest(folder, prefix=prefix)
    boosters: dict[int, xgb.Booster] = {}
    for fold in info["folds"]:
        path = _model_path(folder, prefix, int(fold))
        if not path.exists():
            raise FileNotFoundError(f"{path}: listed in the manifest but missing")
        booster = xgb.Booster()
        booster.load_model(bytearray(path.read_bytes()))
        if (
            booster.feature_names is not None
            and list(booster.feature_names) != info["feature_names"]
        ):
            raise ValueError(f"{path}: its feature names differ from the manifest's")
        boosters[int(fold)] = booster
    return boosters


def predict_frame(
    boosters: Mapping[int, xgb.Booster],
    frame: pl.DataFrame,
    feature_names: Sequence[str],
    *,
    threads: int = 0,
) -> np.ndarray:
    """Mean probability over the fold models for every row of ``frame``.

    Parameters
    ----------
    boosters
        Fold -> Booster, from `train_cv` or `load_models`.
    frame
        Holds at least the ``feature_names`` columns (extra columns are ignored).
    feature_names
        The features the models were trained on, in training order.
    threads
        Threads for building the prediction matrix; 0 = all.

    Returns
    -------
    np.ndarray
        Float32 probabilities, one per row, in frame order.
    """
    if not boosters:
        raise ValueError("no models to predict with")
    names = list(feature_names)
    for fold, booster in boosters.items():
        trained = booster.feature_names
        if trained is not None and list(trained) != names:
            extra = sorted(set(names) - set(trained))[:5]
            lacking = sorted(set(trained) - set(names))[:5]
            detail = f"not in the model: {extra}; model only: {lacking}" if extra or lacking else ""
            raise ValueError(
                f"fold {fold} model was trained on other features than those given "
                f"({len(trained)} vs {len(names)}; {detail or 'same names, different order'})"
            )
    data = xgb.DMatrix(
        feature_matrix(frame, names), feature_names=names, nthread=threads if threads > 0 else None
    )
    # Same summation order and precision as train_cv's test average, so the two agree exactly.
    total = np.zeros(len(frame), dtype=np.float64)
    for fold in sorted(boosters):
        total += boosters[fold].predict(data)
    return (total / len(boosters)).astype(np.float32)
