"""basketcast: predict which products each customer buys again, and pick the F1-optimal basket."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from basketcast.config import (
    BasketConfig,
    Device,
    FeatureConfig,
    ModelConfig,
    RunConfig,
    load_config,
)

if TYPE_CHECKING:
    from basketcast.data.dataset import DataError, Dataset, Problem
    from basketcast.pipeline import RunResult, predict, run

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
    "RunResult",
    "__version__",
    "load_config",
    "predict",
    "run",
]

# Imported on first use: importing the package must not start Polars' thread pool
# before `basketcast.device.set_thread_budget` has sized it.
_LAZY = {
    "DataError": "basketcast.data.dataset",
    "Dataset": "basketcast.data.dataset",
    "Problem": "basketcast.data.dataset",
    "RunResult": "basketcast.pipeline",
    "predict": "basketcast.pipeline",
    "run": "basketcast.pipeline",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'basketcast' has no attribute {name!r}")
