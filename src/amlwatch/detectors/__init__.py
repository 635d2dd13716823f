"""Detectors: one contract (`Detector`), several implementations."""

from __future__ import annotations

from amlwatch.detectors.base import Detector, NotFittedError

__all__ = ["Detector", "NotFittedError"]
