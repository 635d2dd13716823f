"""The one detector contract every amlwatch detector follows (after pyod's `BaseDetector`).

A detector reads a feature frame (one row per transaction, the columns it was
built for) and returns one suspicion score per row: higher means more likely
laundering. `fit` learns from the training period; labels are used only by
supervised detectors. After `fit`, `decision_scores_` holds the training
rows' scores and `threshold_` a first threshold from the `contamination`
share. Evaluation replaces that threshold with one chosen on the validation
period (`set_threshold`); `contamination` is only a starting point.
"""

from __future__ import annotations

import abc
from typing import ClassVar, Self

import numpy as np
import polars as pl

__all__ = ["Detector", "NotFittedError"]


class NotFittedError(RuntimeError):
    """A detector was asked to score before `fit`."""


class Detector(abc.ABC):
    """Base class: implement `_fit` and `_score`; the rest is shared."""

    name: ClassVar[str] = "detector"
    supervised: ClassVar[bool] = False
    """True when `fit` needs labels (XGBoost); unsupervised detectors ignore them."""

    def __init__(self, *, contamination: float = 0.001) -> None:
        if not 0.0 < contamination < 0.5:
            raise ValueError(f"contamination must be in (0, 0.5), got {contamination}")
        self.contamination = contamination
        self.decision_scores_: np.ndarray | None = None
        self.threshold_: float | None = None

    @abc.abstractmethod
    def _fit(self, features: pl.DataFrame, labels: np.ndarray | None) -> None:
        """Learn from the training rows."""

    @abc.abstractmethod
    def _score(self, features: pl.DataFrame) -> np.ndarray:
        """One float score per row, higher = more suspicious."""

    def fit(self, features: pl.DataFrame, labels: np.ndarray | None = None) -> Self:
        """Fit on the training period and set a first threshold from `contamination`."""
        if self.supervised:
            if labels is None:
                raise ValueError(f"{self.name} is supervised: fit needs labels")
            if len(labels) != features.height:
                raise ValueError(
                    f"{self.name}: {len(labels)} labels for {features.height} feature rows"
                )
        self._fit(features, None if labels is None else np.asarray(labels))
        self.decision_scores_ = self._checked(self._score(features), features.height)
        self.threshold_ = self._initial_threshold(self.decision_scores_)
        return self

    def _initial_threshold(self, scores: np.ndarray) -> float:
        """The first threshold after `fit`: the `contamination` quantile of the training scores.

        Detectors with a natural cut (the rules: any rule hit) override this.
        """
        return float(np.quantile(scores, 1.0 - self.contamination))

    def reasons(self, features: pl.DataFrame, *, top: int = 3) -> list[list[str]]:
        """Up to `top` human-readable reasons per row (rules hit, or the features that drove
        the score). Detectors that cannot explain return empty lists."""
        return [[] for _ in range(features.height)]

    def decision_function(self, features: pl.DataFrame) -> np.ndarray:
        """Scores for new rows (float64, one per row)."""
        if self.decision_scores_ is None:
            raise NotFittedError(f"{self.name} must be fitted before scoring")
        return self._checked(self._score(features), features.height)

    def predict(self, features: pl.DataFrame) -> np.ndarray:
        """Alerts (bool) at the current threshold: score strictly above `threshold_`."""
        scores = self.decision_function(features)
        assert self.threshold_ is not None
        return scores > self.threshold_

    def restored(self, threshold: float) -> Self:
        """Mark a detector whose model was fitted elsewhere (a run's, loaded) as ready to
        score, with that run's alert threshold."""
        self.decision_scores_ = np.empty(0)
        return self.set_threshold(threshold)

    def set_threshold(self, threshold: float) -> Self:
        """Replace the contamination threshold (chosen on the validation period)."""
        if not np.isfinite(threshold):
            raise ValueError(f"threshold must be finite, got {threshold}")
        self.threshold_ = float(threshold)
        return self

    def _checked(self, scores: np.ndarray, rows: int) -> np.ndarray:
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if scores.shape[0] != rows:
            raise ValueError(f"{self.name} returned {scores.shape[0]} scores for {rows} rows")
        if not np.all(np.isfinite(scores)):
            raise ValueError(f"{self.name} returned non-finite scores")
        return scores
