"""Isolation Forest (scikit-learn): the unsupervised reference."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from amlwatch.detectors._frame import matrix, top_reasons
from amlwatch.detectors.base import Detector
from amlwatch.detectors.threads import detector_threads

__all__ = ["IsolationForestDetector"]


def _squash(x: np.ndarray) -> np.ndarray:
    # Counts and sums are heavy-tailed; random splits between min and max need a log scale.
    return np.sign(x) * np.log1p(np.abs(x))


class IsolationForestDetector(Detector):
    """Isolation Forest on signed-log-scaled features; score = -score_samples (higher = odder)."""

    name = "iforest"

    def __init__(
        self,
        *,
        columns: list[str],
        n_estimators: int = 100,
        max_samples: int = 256,
        seed: int = 0,
        contamination: float = 0.001,
    ) -> None:
        super().__init__(contamination=contamination)
        self.columns = list(columns)
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.seed = seed
        self.n_jobs = detector_threads()
        self._model: Any = None
        self._center: np.ndarray | None = None
        self._scale: np.ndarray | None = None

    def _fit(self, features: pl.DataFrame, labels: np.ndarray | None) -> None:
        try:
            from sklearn.ensemble import IsolationForest
        except ImportError as exc:  # pragma: no cover - the aml extra brings it
            raise ImportError(
                "IsolationForestDetector needs scikit-learn: pip install 'basketcast[aml]'"
            ) from exc
        x = _squash(matrix(features, self.columns, name=self.name))
        model = IsolationForest(
            n_estimators=self.n_estimators,
            max_samples=min(self.max_samples, len(x)),
            random_state=self.seed,
            n_jobs=self.n_jobs,
        )
        model.fit(x)
        self._model = model
        self._center = np.median(x, axis=0)
        q75, q25 = np.percentile(x, [75, 25], axis=0)
        self._scale = np.maximum(q75 - q25, 1e-3)

    def _score(self, features: pl.DataFrame) -> np.ndarray:
        x = _squash(matrix(features, self.columns, name=self.name))
        assert self._model is not None
        parts = min(self.n_jobs, len(x))
        if parts <= 1:
            return -np.asarray(self._model.score_samples(x))
        # scikit-learn scores serially; a row's score depends on that row alone, so blocks of
        # rows scored on threads (its tree code releases the GIL) give the same bits, faster.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(parts) as pool:
            blocks = list(pool.map(self._model.score_samples, np.array_split(x, parts)))
        return -np.concatenate(blocks)

    def reasons(self, features: pl.DataFrame, *, top: int = 3) -> list[list[str]]:
        """The features furthest from the training median, in interquartile ranges."""
        assert self._center is not None and self._scale is not None
        x = _squash(matrix(features, self.columns, name=self.name))
        return top_reasons(np.abs(x - self._center) / self._scale, self.columns, top)
