"""Every feature family against its brute-force twin, on Hypothesis-generated ledgers."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amlwatch.features import GraphConfig, feature_names
from amlwatch.features.graph import graph_features
from amlwatch.features.snapshots import refresh_days
from amlwatch.features.windows import pair_features, window_features
from tests.amlwatch import _reference as ref
from tests.amlwatch._ledgers import dense, make_ledger

DAY = 1440


@st.composite
def ledgers(draw, max_days: int = 45):
    n = draw(st.integers(1, 40))
    n_acc = draw(st.integers(1, 7))
    src = draw(st.lists(st.integers(0, n_acc), min_size=n, max_size=n))
    dst = draw(st.lists(st.integers(0, n_acc), min_size=n, max_size=n))
    # Few distinct minutes so same-minute ties are common; spread over weeks.
    slots = draw(st.lists(st.integers(0, max_days * DAY), min_size=1, max_size=8))
    minutes = sorted(draw(st.lists(st.sampled_from(slots), min_size=n, max_size=n)))
    # Half-hour jitter on some rows to exercise the 1 h window edge.
    amounts = draw(
        st.lists(st.sampled_from([1.0, 50.0, 99.5, 1000.0, 7000.0]), min_size=n, max_size=n)
    )
    codes = dense(src + dst)
    return codes[:n], codes[n:], minutes, amounts


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ledgers())
def test_account_windows_equal_one_at_a_time_streaming(case) -> None:
    src, dst, minutes, amounts = case
    ledger = make_ledger(src, dst, minutes, amounts)
    batch = window_features(ledger.transactions)
    expected = ref.stream_windows(src, dst, minutes, amounts, amounts)
    want = pl.DataFrame(expected).select(batch.columns)
    np.testing.assert_allclose(batch.to_numpy(), want.to_numpy(), rtol=1e-5, atol=1e-4)


@settings(max_examples=30, deadline=None)
@given(ledgers())
def test_pair_features_equal_brute_force(case) -> None:
    src, dst, minutes, _ = case
    ledger = make_ledger(src, dst, minutes)
    got = pair_features(ledger.transactions)
    want = pl.DataFrame(ref.pairs(src, dst)).select(got.columns)
    np.testing.assert_array_equal(got.to_numpy(), want.to_numpy())


def test_window_edge_is_half_open_and_ties_follow_file_order() -> None:
    # a->b at minute 0 and 60, a->c at 60 (after a->b in the file), a->b at 120.
    ledger = make_ledger([0, 0, 0, 0], [1, 1, 2, 1], [0, 60, 60, 120])
    f = window_features(ledger.transactions)
    # At minute 60 the minute-0 payment is exactly 1 h old: out of (t - 1h, t]; so are the
    # minute-60 payments at minute 120.
    assert f.get_column("src_out_n_1h").to_list() == [0, 0, 1, 0]
    # The same-minute tie: the third row sees the second (earlier in the file), not vice versa.
    assert f.get_column("src_out_cp_1d").to_list() == [0, 1, 1, 2]
    assert f.get_column("src_out_new_1d").to_list() == [0, 1, 1, 2]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ledgers(max_days=40), st.integers(2, 5))
def test_graph_features_equal_brute_force(case, k) -> None:
    src, dst, minutes, _ = case
    ledger = make_ledger(src, dst, minutes)
    cfg = GraphConfig(window_days=9, delta_days=4, max_cycle=k)
    got = graph_features(ledger.transactions, cfg)
    days = [m // DAY for m in minutes]
    want = pl.DataFrame(ref.graph_rows(src, dst, days, window=9, delta=4, k=k))
    np.testing.assert_allclose(got.select(want.columns).to_numpy(), want.to_numpy(), atol=1e-5)


def test_pagerank_equals_power_iteration_and_communities_split_cliques() -> None:
    # Day 0: two disjoint 4-cliques (both directions) and a chain; features read on day 1.
    clique = [(a, b) for a in range(4) for b in range(4) if a != b]
    clique += [(a + 4, b + 4) for a, b in clique]
    chain = [(8, 9), (9, 10)]
    edges = clique + chain
    src = [a for a, _ in edges] + [0]
    dst = [b for _, b in edges] + [9]
    minutes = [0] * len(edges) + [DAY + 5]
    ledger = make_ledger(src, dst, minutes)
    got = graph_features(ledger.transactions, GraphConfig(snapshot_every_days=1)).row(
        -1, named=True
    )
    rank = ref.pagerank(11, edges)
    assert abs(got["g_src_pagerank"] - rank[0] * 11) < 1e-5
    assert abs(got["g_dst_pagerank"] - rank[9] * 11) < 1e-5
    assert got["g_src_community"] == 4
    assert got["g_dst_community"] == 3


def test_graph_snapshots_end_the_day_before() -> None:
    # A 3-cycle whose closing edge is on the same day as the others: not seen (past-only by day).
    same_day = make_ledger([0, 1, 2], [1, 2, 0], [10, 20, 30])
    assert graph_features(same_day.transactions).get_column("g_cycle_len").to_list() == [0, 0, 0]
    next_day = make_ledger([0, 1, 2], [1, 2, 0], [10, 20, DAY + 30])
    assert graph_features(next_day.transactions).get_column("g_cycle_len").to_list() == [0, 0, 3]


def test_registry_marks_streamable_families() -> None:
    streamable = feature_names(streamable_only=True)
    every = feature_names()
    assert set(streamable) < set(every)
    batch = ("g_", "flow_")
    assert all(not n.startswith(batch) for n in streamable)
    assert {n for n in every if n.startswith(batch)} == set(every) - set(streamable)
    assert "src_out_n_1d" in streamable and "log_amount_paid" in streamable


def test_snapshots_in_a_worker_process_equal_in_process(small_ledger) -> None:
    tx = small_ledger.transactions
    inline = graph_features(tx, GraphConfig(snapshot_workers=0))
    worker = graph_features(tx, GraphConfig(snapshot_workers_from=0))
    assert inline.equals(worker)
    # Non-trivial snapshots: ranks and community sizes vary across accounts.
    assert inline.get_column("g_src_pagerank").n_unique() > 10
    assert inline.get_column("g_dst_community").n_unique() > 2


def test_refresh_days_follow_the_period() -> None:
    assert refresh_days([0, 1, 2, 6, 7, 8, 15, 21], 7) == [0, 7, 15]
    assert refresh_days([3, 4], 1) == [3, 4]
    assert refresh_days([], 7) == []
