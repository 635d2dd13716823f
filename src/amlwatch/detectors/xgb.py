"""XGBoost on the features: the supervised reference (with or without the graph family)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

import numpy as np
import polars as pl

from amlwatch.detectors._frame import matrix, shap_values, top_reasons
from amlwatch.detectors.base import Detector
from amlwatch.detectors.threads import detector_threads

__all__ = ["DEFAULT_PARAMS", "XGBoostDetector"]

# The project's seed parameters (DESIGN.md) with shallower trees and 128 bins, which keep a
# 300k-transaction fit within the demo's time on one core. The thread count comes from the
# run (`amlwatch.detectors.threads`); a `params` table's own `nthread` wins.
DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary:logistic",
    "eval_metric": "aucpr",
    "tree_method": "hist",
    "max_bin": 128,
    "max_depth": 6,
    "eta": 0.1,
    "colsample_bytree": 0.4,
    "subsample": 0.75,
}


class XGBoostDetector(Detector):
    """Gradient-boosted trees on labelled training rows; score = P(laundering)."""

    name = "xgboost"
    supervised = True

    def __init__(
        self,
        *,
        columns: list[str],
        rounds: int = 200,
        params: dict[str, Any] | None = None,
        seed: int = 0,
        contamination: float = 0.001,
    ) -> None:
        super().__init__(contamination=contamination)
        self.columns = list(columns)
        self.rounds = rounds
        self.params = {
            **DEFAULT_PARAMS,
            "nthread": detector_threads(),
            **(params or {}),
            "seed": seed,
        }
        self.booster: Any = None

    def _fit(self, features: pl.DataFrame, labels: np.ndarray | None) -> None:
        import xgboost as xgb

        assert labels is not None
        dtrain = xgb.DMatrix(
            matrix(features, self.columns, name=self.name), label=labels, feature_names=self.columns
        )
        self.booster = xgb.train(self.params, dtrain, num_boost_round=self.rounds)

    def _score(self, features: pl.DataFrame) -> np.ndarray:
        import xgboost as xgb

        data = xgb.DMatrix(
            matrix(features, self.columns, name=self.name), feature_names=self.columns
        )
        return np.asarray(self.booster.predict(data), dtype=np.float64)

    def reasons(self, features: pl.DataFrame, *, top: int = 3) -> list[list[str]]:
        """The features with the largest SHAP contributions towards laundering."""
        import xgboost as xgb

        data = xgb.DMatrix(
            matrix(features, self.columns, name=self.name), feature_names=self.columns
        )
        contribs = shap_values(self.booster, data, features.height, len(self.columns))
        return top_reasons(contribs, self.columns, top)

    def save(self, path: str) -> None:
        """Save the booster as XGBoost JSON/UBJ (never pickle)."""
        self.booster.save_model(path)

    def load(self, path: str | Path) -> Self:
        """Load a booster `save` wrote; its columns must be this detector's."""
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(str(path))
        if list(booster.feature_names or []) != self.columns:
            raise ValueError(
                f"{path}: the model reads {len(booster.feature_names or [])} columns, not the "
                f"{len(self.columns)} this detector's families give; re-run"
            )
        booster.set_param({"nthread": self.params["nthread"]})
        self.booster = booster
        return self
