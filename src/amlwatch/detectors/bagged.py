"""XGBoost seed-bagging: the mean score of several boosters that differ only in their seed.

Row and column sampling (`subsample`, `colsample_bytree`) make one booster's
scores depend on its seed; with a few dozen laundering rows per period that
noise moves F1 by several points. Averaging `bags` boosters (seeds derived
from the detector's seed) smooths it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from amlwatch.detectors._frame import shap_values, top_reasons
from amlwatch.detectors.base import Detector
from amlwatch.detectors.xgb import XGBoostDetector

__all__ = ["BaggedXGBoostDetector", "bag_seeds"]


def bag_seeds(seed: int, bags: int) -> list[int]:
    """The boosters' seeds: the detector's seed first, then ones derived from it."""
    return [seed + 7919 * k for k in range(bags)]


class BaggedXGBoostDetector(Detector):
    """The mean of `bags` `XGBoostDetector` scores (same columns and parameters, derived seeds)."""

    name = "xgboost_bagged"
    supervised = True

    def __init__(
        self,
        *,
        columns: list[str],
        rounds: int = 200,
        params: dict[str, Any] | None = None,
        seed: int = 0,
        bags: int = 5,
        contamination: float = 0.001,
    ) -> None:
        super().__init__(contamination=contamination)
        if bags < 1:
            raise ValueError(f"bags must be >= 1, got {bags}")
        self.columns = list(columns)
        self.members = [
            XGBoostDetector(columns=columns, rounds=rounds, params=params, seed=s)
            for s in bag_seeds(seed, bags)
        ]

    def _fit(self, features: pl.DataFrame, labels: np.ndarray | None) -> None:
        for member in self.members:
            member._fit(features, labels)

    def _score(self, features: pl.DataFrame) -> np.ndarray:
        return np.mean([m._score(features) for m in self.members], axis=0)

    def reasons(self, features: pl.DataFrame, *, top: int = 3) -> list[list[str]]:
        """The features with the largest mean SHAP contribution over the boosters."""
        import xgboost as xgb

        from amlwatch.detectors._frame import matrix

        data = xgb.DMatrix(
            matrix(features, self.columns, name=self.name), feature_names=self.columns
        )
        rows, cols = features.height, len(self.columns)
        contribs = np.mean([shap_values(m.booster, data, rows, cols) for m in self.members], axis=0)
        return top_reasons(contribs, self.columns, top)
