"""The paired bootstrap of a difference of per-order F1."""

from __future__ import annotations

import math

import numpy as np
import pytest

from basketcast.evaluate.intervals import bootstrap, paired_bootstrap


def test_paired_interval_is_the_interval_of_the_differences() -> None:
    rng = np.random.default_rng(0)
    base = rng.choice([0.0, 0.5, 1.0], size=4_000)
    ours = np.clip(base + rng.choice([0.0, 0.1], size=base.size), 0, 1)
    low, high = paired_bootstrap(ours, base, seed=1)
    assert (low, high) == bootstrap(ours - base, seed=1)
    diff = ours - base
    half = 1.96 * diff.std(ddof=1) / math.sqrt(diff.size)
    assert low == pytest.approx(diff.mean() - half, abs=0.15 * half)
    assert high == pytest.approx(diff.mean() + half, abs=0.15 * half)


def test_pairing_narrows_the_interval_of_correlated_scores() -> None:
    # Two methods that agree on most orders: the paired interval is far narrower than
    # what two independent intervals would suggest, and excludes 0.
    rng = np.random.default_rng(2)
    base = rng.random(2_000)
    ours = base + 0.01
    low, high = paired_bootstrap(ours, base, seed=0)
    assert low == pytest.approx(0.01) and high == pytest.approx(0.01)
    a_low, a_high = bootstrap(ours, seed=0)
    assert a_high - a_low > 100 * (high - low + 1e-12)
    with pytest.raises(ValueError, match="shape"):
        paired_bootstrap(ours, base[:-1], seed=0)
