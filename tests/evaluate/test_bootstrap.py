"""The bootstrap interval of the F1 table: a correct 95 % interval, deterministic, cheap."""

from __future__ import annotations

import math

import numpy as np
import pytest

from basketcast.evaluate.intervals import bootstrap as _bootstrap


def _samples() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    f1_like = rng.choice(
        [0.0, 1 / 3, 0.5, 2 / 3, 0.8, 1.0], p=[0.4, 0.1, 0.2, 0.1, 0.1, 0.1], size=200_000
    )
    return {"few distinct values": f1_like, "all distinct": rng.random(5_000)}


@pytest.mark.parametrize("name", ["few distinct values", "all distinct"])
def test_interval_is_the_normal_one_on_a_large_sample(name: str) -> None:
    values = _samples()[name]
    mean, half = values.mean(), 1.96 * values.std(ddof=1) / math.sqrt(values.size)
    low, high = _bootstrap(values, seed=0)
    assert low < mean < high
    # 1000 resamples put the 2.5 % quantile within about 4 % of the half-width (1 sd).
    assert low == pytest.approx(mean - half, abs=0.15 * half)
    assert high == pytest.approx(mean + half, abs=0.15 * half)


def test_same_seed_same_interval() -> None:
    values = _samples()["few distinct values"][:5_000]
    assert _bootstrap(values, seed=3) == _bootstrap(values, seed=3)
    assert _bootstrap(values, seed=3) != _bootstrap(values, seed=4)
    assert _bootstrap(values, seed=3, draws=250) != _bootstrap(values, seed=3)


def test_degenerate_samples() -> None:
    assert all(math.isnan(x) for x in _bootstrap(np.array([]), seed=0))
    assert _bootstrap(np.full(10, 0.5), seed=0) == (0.5, 0.5)
