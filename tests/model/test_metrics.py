"""Metrics against brute force and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basketcast.model import calibration_table, expected_calibration_error, log_loss, roc_auc

# Scores from a small grid so that ties are common.
CASES = st.lists(
    st.tuples(st.integers(0, 1), st.integers(0, 8).map(lambda k: k / 8)), min_size=1, max_size=40
)


def brute_auc(y: list[int], p: list[float]) -> float:
    pos = [s for t, s in zip(y, p, strict=True) if t == 1]
    neg = [s for t, s in zip(y, p, strict=True) if t == 0]
    if not pos or not neg:
        return math.nan
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in pos for b in neg)
    return wins / (len(pos) * len(neg))


@settings(max_examples=200, deadline=None)
@given(CASES)
def test_auc_matches_pairwise_count(case: list[tuple[int, float]]) -> None:
    y, p = [c[0] for c in case], [c[1] for c in case]
    expected = brute_auc(y, p)
    got = roc_auc(np.array(y), np.array(p))
    if math.isnan(expected):
        assert math.isnan(got)
    else:
        assert got == pytest.approx(expected, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(CASES, st.integers(1, 12))
def test_calibration_matches_brute_force(case: list[tuple[int, float]], bins: int) -> None:
    y = np.array([c[0] for c in case])
    p = np.array([c[1] for c in case])
    table = calibration_table(y, p, bins=bins)
    assert table.height == bins and table["count"].sum() == len(y)
    ece = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = [
            (t, s)
            for t, s in zip(y, p, strict=True)
            if lo <= s < hi or (b == bins - 1 and s == 1.0)
        ]
        row = table.row(b, named=True)
        assert row["count"] == len(inside)
        if inside:
            mean_y = sum(t for t, _ in inside) / len(inside)
            mean_p = sum(s for _, s in inside) / len(inside)
            assert row["mean_y"] == pytest.approx(mean_y)
            assert row["mean_p"] == pytest.approx(mean_p)
            ece += len(inside) / len(y) * abs(mean_y - mean_p)
        else:
            assert row["mean_y"] is None and row["mean_p"] is None
    assert expected_calibration_error(y, p, bins=bins) == pytest.approx(ece, abs=1e-12)


def test_hand_computed_values() -> None:
    y = np.array([1, 0, 1, 0])
    p = np.array([0.9, 0.1, 0.4, 0.4])
    expected = -(math.log(0.9) + math.log(0.9) + math.log(0.4) + math.log(0.6)) / 4
    assert log_loss(y, p) == pytest.approx(expected)
    # pairs: (0.9 > 0.1), (0.9 > 0.4), (0.4 > 0.1), (0.4 = 0.4) -> 3.5 / 4
    assert roc_auc(y, p) == pytest.approx(0.875)
    assert roc_auc([0, 1], [0.2, 0.8]) == 1.0 and roc_auc([1, 0], [0.2, 0.8]) == 0.0
    # Clipping keeps a confident mistake finite.
    assert math.isfinite(log_loss([1], [0.0]))


def test_large_auc_is_exact_and_fast() -> None:
    rng = np.random.default_rng(0)
    p = rng.integers(0, 1000, size=1_000_000) / 1000
    y = (rng.random(1_000_000) < p).astype(np.int8)
    auc = roc_auc(y, p)
    assert 0.8 < auc < 0.9


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="NaN"):
        roc_auc([0, 1], [0.1, np.nan])
    with pytest.raises(ValueError, match="only 0 and 1"):
        log_loss([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="equal length"):
        log_loss([0, 1], [0.1])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        expected_calibration_error([0, 1], [0.1, 1.2])
