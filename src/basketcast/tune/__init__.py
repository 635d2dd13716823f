"""Hyperparameter search for the item model with Optuna: seeded TPE, fold-0-first pruning,
a resumable study (journal file or RDB), and parallel worker processes.

    from basketcast.tune import tune

    result = tune("data/", "runs/tune", trials=30, jobs=2)
    print(result.study.best_params)   # runs/tune/best.toml holds the full configuration

Needs the ``tune`` extra (``pip install 'basketcast[tune]'``).
"""

from __future__ import annotations

from basketcast.tune._space import DEFAULT_SPACE, Param, SearchSpace, apply, load_space
from basketcast.tune._storage import COUNTED
from basketcast.tune._study import TuneResult, thread_budget, tune

__all__ = [
    "COUNTED",
    "DEFAULT_SPACE",
    "Param",
    "SearchSpace",
    "TuneResult",
    "apply",
    "load_space",
    "thread_budget",
    "tune",
]
