"""The flow family (time-respecting flows) against its brute-force twin, and planted cases."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amlwatch.features.flow import FLOW, FlowConfig, flow_features
from tests.amlwatch import _flow_reference as ref
from tests.amlwatch._ledgers import FORWARD_AMOUNTS, forward_ledgers, make_ledger

DAY, HOUR = 1440, 60


# The flow family's ledgers: a pool with 50.0, far outside the band.
flow_ledgers = forward_ledgers(max_rows=40, max_account=6, days=9, amounts=(*FORWARD_AMOUNTS, 50.0))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flow_ledgers, st.integers(2, 6), st.sampled_from([1.0, 3.0]), st.integers(1, 4))
def test_flow_features_equal_brute_force(case, k, delta_days, scan) -> None:
    src, dst, minutes, paid, received = case
    ledger = make_ledger(src, dst, minutes, paid, received=received)
    cfg = FlowConfig(delta_days=delta_days, max_cycle=k, max_scan=scan)
    got = flow_features(ledger.transactions, cfg)
    assert got.columns == list(FLOW)
    want = ref.flow(
        src, dst, minutes, paid, received, delta=int(delta_days * DAY), k=k, max_scan=scan
    )
    want_frame = pl.DataFrame(want).select(got.columns).cast(pl.Float64)
    np.testing.assert_allclose(got.to_numpy(), want_frame.to_numpy(), rtol=1e-6, atol=1e-6)


def _row(src, dst, minutes, paid, received=None, **cfg) -> dict[str, float]:
    ledger = make_ledger(src, dst, minutes, paid, received=received)
    return flow_features(ledger.transactions, FlowConfig(**cfg)).row(-1, named=True)


def test_a_forward_of_97_percent_two_hours_later_is_matched() -> None:
    got = _row([0, 1], [1, 2], [0, 2 * HOUR], [1000.0, 970.0])
    assert got["flow_src_match_n"] == 1
    assert got["flow_src_match_hours"] == pytest.approx(2.0)
    assert got["flow_src_best_ratio"] == pytest.approx(0.97)
    assert got["flow_src_out_in"] == pytest.approx(0.97)


def test_a_forward_outside_the_window_or_band_is_not_matched() -> None:
    # Ten days later: the window (t - 10 d, t] is half-open, so the receipt is out of it.
    late = _row([0, 1], [1, 2], [0, 10 * DAY], [1000.0, 970.0])
    assert late["flow_src_match_n"] == 0 and late["flow_src_match_hours"] == -1.0
    assert late["flow_src_best_ratio"] == 0.0
    inside = _row([0, 1], [1, 2], [0, 10 * DAY - 1], [1000.0, 970.0])
    assert inside["flow_src_match_n"] == 1
    # 85 % of the receipt, or more than it, is not a forward.
    assert _row([0, 1], [1, 2], [0, HOUR], [1000.0, 850.0])["flow_src_match_n"] == 0
    assert _row([0, 1], [1, 2], [0, HOUR], [1000.0, 1001.0])["flow_src_match_n"] == 0
    # The receipt is compared by what the sender received (its own currency).
    converted = _row([0, 1], [1, 2], [0, HOUR], [1000.0, 970.0], received=[1000.0 / 0.8, 970.0])
    assert converted["flow_src_match_n"] == 0


def test_a_chain_of_forwards_counts_its_hops() -> None:
    # 0 -> 1 -> 2 -> 3 -> 4, each keeping 96 %; then 4 pays 5 an unrelated amount.
    paid = [1000.0, 960.0, 921.6, 884.7, 300.0]
    f = flow_features(
        make_ledger([0, 1, 2, 3, 4], [1, 2, 3, 4, 5], [0, 60, 120, 180, 240], paid).transactions
    )
    assert f.get_column("flow_chain_len").to_list() == [0, 1, 2, 3, 0]


def test_a_cycle_counts_only_when_its_hops_are_in_time_order() -> None:
    # 0 -> 1 -> 2, then 2 -> 0 closes the cycle 0 -> 1 -> 2 -> 0 with hops in order.
    ordered = make_ledger([0, 1, 2], [1, 2, 0], [0, DAY, 2 * DAY])
    got = flow_features(ordered.transactions).get_column("flow_cycle_len").to_list()
    assert got == [0, 0, 3]
    # The same edges, but 1 -> 2 happened before 0 -> 1: no time-respecting path 0 -> 1 -> 2.
    unordered = make_ledger([1, 0, 2], [2, 1, 0], [0, DAY, 2 * DAY])
    assert flow_features(unordered.transactions).get_column("flow_cycle_len").to_list() == [0, 0, 0]
    # Same minute: the file order decides (2 -> 0 is last, so it sees both earlier hops).
    tie = make_ledger([0, 1, 2], [1, 2, 0], [5, 5, 5])
    assert flow_features(tie.transactions).get_column("flow_cycle_len").to_list() == [0, 0, 3]
    # Out of the window (the first hop is 10 days older than the closing one): no cycle.
    stale = make_ledger([0, 1, 2], [1, 2, 0], [0, DAY, 10 * DAY])
    assert flow_features(stale.transactions).get_column("flow_cycle_len").to_list() == [0, 0, 0]
    # A 6-cycle needs max_cycle >= 6.
    six = make_ledger([0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 0], [h * HOUR for h in range(6)])
    assert flow_features(six.transactions).get_column("flow_cycle_len")[-1] == 6
    five = flow_features(six.transactions, FlowConfig(max_cycle=5))
    assert five.get_column("flow_cycle_len")[-1] == 0


def test_scatter_gather_counts_siblings_that_forward_the_same_source() -> None:
    # Source 0 pays 1, 2, 3; each forwards 96 % to sink 4 later; 5 pays 4 unrelated money.
    src = [0, 0, 0, 5, 1, 2, 3]
    dst = [1, 2, 3, 4, 4, 4, 4]
    minutes = [0, 10, 20, 30, DAY, DAY + 10, DAY + 20]
    paid = [500.0, 400.0, 300.0, 480.0, 480.0, 384.0, 288.0]
    f = flow_features(make_ledger(src, dst, minutes, paid).transactions)
    assert f.get_column("flow_scatter_gather").to_list() == [0, 0, 0, 0, 0, 1, 2]
    assert f.get_column("flow_dst_fwd_n").to_list() == [0, 0, 0, 0, 0, 1, 2]
    # The receiver had 480 from 5 and 480 from 1 before 2's 384: none within 0.9-1.11 of it.
    assert f.get_column("flow_dst_similar_n").to_list()[4:] == [1, 0, 0]


def test_gather_then_scatter_through_a_hub() -> None:
    # Accounts 1-4 pay hub 0; the hub then pays 5, 6, 7.
    src = [1, 2, 3, 4, 0, 0, 0]
    dst = [0, 0, 0, 0, 5, 6, 7]
    f = flow_features(make_ledger(src, dst, list(range(7)), [100.0] * 4 + [130.0] * 3).transactions)
    assert f.get_column("flow_gather_scatter").to_list()[4:] == [1, 2, 3]
    assert f.get_column("flow_src_out_in").to_list()[4:] == pytest.approx([0.325, 0.65, 0.975])


def test_run_config_reads_the_flow_table(tmp_path) -> None:
    from amlwatch.config import load_config

    path = tmp_path / "run.toml"
    path.write_text("[flow]\ndelta_days = 5\nmax_cycle = 4\n")
    assert load_config(path).flow == FlowConfig(delta_days=5, max_cycle=4)


def test_empty_ledger_and_bad_config() -> None:
    ledger = make_ledger([0], [1], [0])
    empty = flow_features(ledger.transactions.head(0))
    assert empty.height == 0 and empty.columns == list(FLOW)
    with pytest.raises(ValueError, match="max_cycle"):
        FlowConfig(max_cycle=9)
    with pytest.raises(ValueError, match="low"):
        FlowConfig(low=1.2)
