"""Folds, XGBoost training (item and None models) and prediction."""

from __future__ import annotations

from basketcast.frame import ID_COLUMNS, feature_names
from basketcast.model.folds import assign_folds
from basketcast.model.metrics import (
    calibration_table,
    expected_calibration_error,
    log_loss,
    roc_auc,
)
from basketcast.model.predict import load_manifest, load_models, predict_frame, save_models
from basketcast.model.train import CVResult, train_cv

__all__ = [
    "ID_COLUMNS",
    "CVResult",
    "assign_folds",
    "calibration_table",
    "expected_calibration_error",
    "feature_names",
    "load_manifest",
    "load_models",
    "log_loss",
    "predict_frame",
    "roc_auc",
    "save_models",
    "train_cv",
]
