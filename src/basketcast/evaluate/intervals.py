"""Bootstrap intervals of per-order figures: one method's mean, or a paired difference."""

from __future__ import annotations

import numpy as np

__all__ = ["bootstrap", "paired_bootstrap"]


_BOOTSTRAP_BLOCK = 100
"""Resamples drawn at once: bounds memory by this many times the number of distinct values."""


def bootstrap(values: np.ndarray, *, seed: int, draws: int = 1000) -> tuple[float, float]:
    """95 % percentile bootstrap interval of the mean of per-order values (orders resampled).

    A resample's mean only depends on how often it draws each distinct value, and
    those counts are multinomial(n, share of each value): one binomial per distinct
    value instead of n indices per resample. The same distribution as resampling
    indices, for any values; fast for per-order F1, which takes a few hundred values
    (1000 resamples of 200k orders: milliseconds instead of seconds and 1.6 GB).
    """
    if values.size == 0:
        return (float("nan"), float("nan"))
    distinct, counts = np.unique(values, return_counts=True)
    rng = np.random.default_rng(seed)
    blocks = [min(_BOOTSTRAP_BLOCK, draws - start) for start in range(0, draws, _BOOTSTRAP_BLOCK)]
    totals = [rng.multinomial(values.size, counts / values.size, size=b) @ distinct for b in blocks]
    means = np.concatenate(totals) / values.size
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def paired_bootstrap(
    ours: np.ndarray, theirs: np.ndarray, *, seed: int, draws: int = 1000
) -> tuple[float, float]:
    """95 % paired bootstrap interval of ``mean(ours − theirs)``: orders resampled, pairs kept.

    Resampling orders and taking both methods' F1 of each drawn order is the
    same as resampling the per-order differences, which `bootstrap` does.
    """
    if ours.shape != theirs.shape:
        raise ValueError(f"paired values differ in shape: {ours.shape} vs {theirs.shape}")
    return bootstrap(ours - theirs, seed=seed, draws=draws)
