"""Neighbour suspicion: features vs a brute-force twin, no leakage, streaming, and a planted ring."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amlwatch.detectors import make_detector
from amlwatch.detectors.bagged import BaggedXGBoostDetector
from amlwatch.detectors.neighbours import GROUPS, neighbour_columns, neighbour_scores
from amlwatch.detectors.propagate import PropagatedXGBoostDetector
from amlwatch.detectors.xgb import XGBoostDetector

DAY = 1440


def brute_force(src, dst, minute, score, delta, high, hops):
    """The module docstring's definitions, one row and one earlier row at a time."""
    n = len(src)
    names = neighbour_columns(hops=hops)
    out = np.zeros((n, len(names)))
    for i in range(n):
        u, v, t = src[i], dst[i], minute[i]
        window = [j for j in range(i) if minute[j] > t - delta]
        members = {
            "src_out": [j for j in window if src[j] == u],
            "src_in": [j for j in window if dst[j] == u],
            "dst_out": [j for j in window if src[j] == v],
            "dst_in": [j for j in window if dst[j] == v],
        }
        for g, group in enumerate(GROUPS):
            s = [score[j] for j in members[group]]
            out[i, 3 * g : 3 * g + 3] = (max(s, default=0.0), sum(s), sum(x >= high for x in s))
        if hops == 2:
            payer = [max(out[j, 0], out[j, 3]) for j in members["src_in"]]
            payee = [max(out[j, 6], out[j, 9]) for j in members["dst_out"]]
            out[i, 12], out[i, 13] = max(payer, default=0.0), max(payee, default=0.0)
    return out


@st.composite
def scored_ledgers(draw):
    n = draw(st.integers(0, 40))
    n_acc = draw(st.integers(1, 6))
    src = draw(st.lists(st.integers(0, n_acc), min_size=n, max_size=n))
    dst = draw(st.lists(st.integers(0, n_acc), min_size=n, max_size=n))
    # Few distinct minutes (same-minute ties), spread over more than one window.
    slots = draw(st.lists(st.integers(0, 6 * DAY), min_size=1, max_size=8))
    minute = sorted(draw(st.lists(st.sampled_from(slots), min_size=n, max_size=n)))
    score = draw(st.lists(st.sampled_from([0.0, 0.01, 0.3, 0.5, 0.9]), min_size=n, max_size=n))
    return np.array(src), np.array(dst), np.array(minute, dtype=np.int64), np.array(score)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scored_ledgers(), st.sampled_from([1, DAY, 2 * DAY]), st.sampled_from([1, 2]))
def test_neighbour_scores_equal_brute_force(case, delta, hops) -> None:
    src, dst, minute, score = case
    got = neighbour_scores(src, dst, minute, score, delta_minutes=delta, high=0.5, hops=hops)
    want = brute_force(src, dst, minute, score, delta, 0.5, hops)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-8)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scored_ledgers(), st.integers(0, 39), st.integers(0, 2**32 - 1))
def test_neighbour_scores_ignore_later_rows(case, cut, seed) -> None:
    src, dst, minute, score = case
    if cut >= len(src):
        return
    rng = np.random.default_rng(seed)
    later = slice(cut + 1, None)
    src2, dst2, score2 = src.copy(), dst.copy(), score.copy()
    src2[later] = rng.integers(0, 7, len(src) - cut - 1)
    dst2[later] = rng.integers(0, 7, len(src) - cut - 1)
    score2[later] = rng.random(len(src) - cut - 1)
    # Row `cut`'s own score and every later row's rows change nothing up to `cut`.
    score2[cut] = rng.random()
    kw: dict[str, Any] = {"delta_minutes": DAY, "high": 0.5, "hops": 2}
    a = neighbour_scores(src, dst, minute, score, **kw)
    b = neighbour_scores(src2, dst2, minute, score2, **kw)
    np.testing.assert_array_equal(a[: cut + 1], b[: cut + 1])


def test_neighbour_scores_reject_unordered_rows() -> None:
    with pytest.raises(ValueError, match="ledger order"):
        neighbour_scores([0, 1], [1, 0], [5, 4], [0.1, 0.2], delta_minutes=10, high=0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        neighbour_scores([0, 1], [1, 0], [4, 5], [0.1, 1.5], delta_minutes=10, high=0.5)


# --- the detector on a planted world -------------------------------------------------------

START = dt.datetime(2022, 9, 1)


def planted(
    seed: int, *, rings: int, lawful: int, days: int, marked: bool = True, chain: bool = False
):
    """Lawful noise plus 3-leg rings x -> y -> z -> x of fresh accounts within a few hours.

    Only a ring's first leg carries the planted signal (c = 4); its later legs look like
    lawful rows, but they share the first leg's accounts. Every ring leg is laundering.
    With `marked=False` the first leg looks lawful too. With `chain=True` each ring is a
    chain w -> x -> y -> z instead: its last leg shares no account with the marked leg.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(lawful):
        rows.append((rng.uniform(0, days * DAY), *rng.integers(0, 500, 2), rng.normal(), 0))
    for r in range(rings):
        t = rng.uniform(0, days * DAY - 600)
        x, y, z, w = 10_000 + 4 * r + np.arange(4) + 4000 * seed
        first = 4.0 if marked else rng.normal()
        legs = ((x, y, first), (y, z, rng.normal()), (z, w if chain else x, rng.normal()))
        for k, (a, b, mark) in enumerate(legs):
            rows.append((t + 60 * (k + 1), a, b, mark, 1))
    rows.sort(key=lambda r: r[0])
    n = len(rows)
    minute, src, dst, c, label = (np.array(col) for col in zip(*rows, strict=True))
    frame = pl.DataFrame(
        {
            "txn_id": np.arange(n, dtype=np.int64) + 100_000 * seed,
            "timestamp": [START + dt.timedelta(minutes=float(m)) for m in minute],
            "src": src.astype(np.int64),
            "dst": dst.astype(np.int64),
            "a": rng.normal(size=n),
            "c": c,
        }
    )
    return frame, label.astype(np.int8)


def later_legs(frame: pl.DataFrame, labels: np.ndarray, leg: int | None = None) -> np.ndarray:
    """Ring legs that are not a ring's first leg (their payer was paid within the ring), or
    only its `leg`-th leg (0-based)."""
    offset = frame.get_column("src").to_numpy() % 4
    return (labels == 1) & ((offset != 0) if leg is None else (offset == leg))


@pytest.fixture(scope="module")
def planted_case():
    train, y_train = planted(0, rings=80, lawful=6000, days=60)
    shift = dt.timedelta(days=61)  # the test period follows the training period
    test, y_test = planted(1, rings=20, lawful=2000, days=20)
    test = test.with_columns(pl.col("timestamp") + shift)
    plain, _ = planted(1, rings=20, lawful=2000, days=20, marked=False)
    plain = plain.with_columns(pl.col("timestamp") + shift)
    return train, y_train, test, y_test, plain


def test_later_ring_legs_inherit_the_marked_legs_suspicion(planted_case) -> None:
    train, y_train, test, y_test, plain = planted_case
    kw: dict[str, Any] = {"columns": ["a", "c"], "rounds": 40, "folds": 4, "window_days": 1.0}
    det = PropagatedXGBoostDetector(**kw).fit(train, y_train)
    later = later_legs(test, y_test)
    lawful = y_test == 0
    scores = det.decision_function(test)
    # Without the marked leg, the same later legs (same rows, same fields) score lower.
    without = PropagatedXGBoostDetector(**kw).fit(train, y_train).decision_function(plain)
    assert np.median(scores[later]) > 10 * np.median(without[later])
    assert np.mean(scores[later] > np.quantile(scores[lawful], 0.99)) > 0.8
    # Stage 1 alone (the same XGBoost on the row's own columns) cannot see them.
    alone = XGBoostDetector(columns=["a", "c"], rounds=40).fit(train, y_train)
    stage1 = alone.decision_function(test)
    assert np.mean(stage1[later] > np.quantile(stage1[lawful], 0.99)) < 0.3
    top = det.reasons(test.filter(pl.Series(later)), top=1)
    assert sum(bool(r) and r[0].startswith("nb_") for r in top) > 0.8 * later.sum()


def test_a_second_level_carries_suspicion_two_legs() -> None:
    # Chains w -> x -> y -> z marked on their first leg only: the last leg shares no account
    # with it, so one round of propagation cannot reach it and two can.
    train, y_train = planted(0, rings=80, lawful=6000, days=60, chain=True)
    test, y_test = planted(1, rings=20, lawful=2000, days=20, chain=True)
    test = test.with_columns(pl.col("timestamp") + dt.timedelta(days=61))
    last, lawful = later_legs(test, y_test, leg=2), y_test == 0
    kw: dict[str, Any] = {"columns": ["a", "c"], "rounds": 40, "folds": 4, "window_days": 1.0}

    def found(levels: int) -> float:
        det = PropagatedXGBoostDetector(**kw, levels=levels).fit(train, y_train)
        scores = det.decision_function(test)
        return float(np.mean(scores[last] > np.quantile(scores[lawful], 0.99)))

    assert found(1) < 0.3
    assert found(2) > 0.8


def test_scores_ignore_later_rows_and_stream_in_any_chunks(planted_case) -> None:
    train, y_train, test, _, _ = planted_case
    kw: dict[str, Any] = {
        "columns": ["a", "c"],
        "rounds": 20,
        "folds": 3,
        "hops": 2,
        "own_score": True,
    }
    whole = PropagatedXGBoostDetector(**kw).fit(train, y_train).decision_function(test)
    # The same rows in two batches (as the pipeline scores validation, then test).
    cut = test.height // 2
    det = PropagatedXGBoostDetector(**kw).fit(train, y_train)
    chunks = np.concatenate([det.decision_function(test[:cut]), det.decision_function(test[cut:])])
    np.testing.assert_allclose(chunks, whole, rtol=1e-6)
    # Rows after `cut` altered (accounts, fields, times kept in order): rows up to it unchanged.
    rng = np.random.default_rng(5)
    later = pl.Series(np.arange(test.height) > cut)
    altered = test.with_columns(
        pl.when(later).then(pl.lit(7)).otherwise(pl.col("src")).alias("src"),
        pl.when(later).then(pl.col("c") + 4).otherwise(pl.col("c")).alias("c"),
        pl.Series("a", np.where(later, rng.normal(size=test.height), test["a"])),
    )
    det = PropagatedXGBoostDetector(**kw).fit(train, y_train)
    np.testing.assert_array_equal(det.decision_function(altered)[: cut + 1], whole[: cut + 1])
    # Rescoring a scored row reuses its stored stage-1 score: same value.
    np.testing.assert_array_equal(det.decision_function(altered[:cut]), whole[:cut])


@pytest.mark.parametrize("purge_days", [0.0, 5.0])
def test_purged_blocks_ignore_labels_next_to_the_block(planted_case, purge_days) -> None:
    train, y_train, *_ = planted_case
    kw: dict[str, Any] = {"columns": ["a", "c"], "rounds": 20, "folds": 3}
    minute = (train["timestamp"] - START).dt.total_minutes().to_numpy()
    first_end = minute[: train.height // 3].max()  # the first block's last row
    # Lawful rows in the 5 days after the first block, relabelled as laundering.
    near = (minute > first_end) & (minute <= first_end + 5 * DAY) & (y_train == 0)
    flipped = np.where(near, 1, y_train).astype(np.int8)
    det = PropagatedXGBoostDetector(**kw, purge_days=purge_days)
    before = det.fit(train, y_train).oof_scores_
    after = PropagatedXGBoostDetector(**kw, purge_days=purge_days).fit(train, flipped).oof_scores_
    assert before is not None and after is not None
    block = slice(0, train.height // 3)
    if purge_days:  # the first block's model never saw those rows
        np.testing.assert_array_equal(after[block], before[block])
    else:  # plain blocks: it trained on them, and its scores move
        assert np.abs(after[block] - before[block]).max() > 1e-3


def test_propagated_detector_checks_its_inputs(planted_case) -> None:
    train, y_train, *_ = planted_case
    with pytest.raises(ValueError, match="folds"):
        PropagatedXGBoostDetector(columns=["a"], folds=1)
    with pytest.raises(ValueError, match="purge_days"):
        PropagatedXGBoostDetector(columns=["a"], purge_days=-1)
    with pytest.raises(ValueError, match="levels"):
        PropagatedXGBoostDetector(columns=["a"], levels=0)
    with pytest.raises(ValueError, match="key column"):
        PropagatedXGBoostDetector(columns=["a"], rounds=2).fit(train.drop("src"), y_train)
    det = make_detector("xgboost_propagated", {"columns": ["a", "c"], "rounds": 2, "hops": 2})
    assert isinstance(det, PropagatedXGBoostDetector) and det.hops == 2


def test_bagging_averages_boosters_with_derived_seeds(planted_case) -> None:
    train, y_train, test, *_ = planted_case
    bag = BaggedXGBoostDetector(columns=["a", "c"], rounds=10, bags=3, seed=2)
    scores = bag.fit(train, y_train).decision_function(test)
    members = [
        XGBoostDetector(columns=["a", "c"], rounds=10, seed=m.params["seed"])
        .fit(train, y_train)
        .decision_function(test)
        for m in bag.members
    ]
    assert len({m.params["seed"] for m in bag.members}) == 3
    np.testing.assert_allclose(scores, np.mean(members, axis=0), rtol=1e-6)
