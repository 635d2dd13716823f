"""basketcast: predict which products each customer buys again, and pick the F1-optimal basket."""

from __future__ import annotations

from basketcast.config import BasketConfig, Device, FeatureConfig, ModelConfig, RunConfig, load_config
from basketcast.data.dataset import DataError, Dataset, Problem

__version__ = "0.1.0"

__all__ = [
    "BasketConfig",
    "DataError",
    "Dataset",
    "Device",
    "FeatureConfig",
    "ModelConfig",
    "Problem",
    "RunConfig",
    "__version__",
    "load_config",
]
