"""The fresh family (first contacts: bipartites, forwards) against a brute-force twin, and planted cases."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amlwatch.features.flow import FlowConfig
from amlwatch.features.flow_fresh import FRESH, fresh_features
from tests.amlwatch._ledgers import forward_ledgers, make_ledger

DAY = 1440
BIPARTITE = [name for name in FRESH if name != "flow_fresh_fwd_n"]


def brute_force(src, dst, minutes, paid, received, *, delta, max_scan, low=0.9, high=1.0):
    """Per row, the `FRESH` values straight from the module's definitions (plain Python)."""
    seen: set[tuple[int, int]] = set()
    first = []
    for pair in zip(src, dst, strict=True):
        first.append(pair not in seen and pair[0] != pair[1])
        seen.add(pair)
    rows = []
    for i in range(len(src)):
        u, v, t = src[i], dst[i], minutes[i]
        window = [j for j in range(i) if first[j] and minutes[j] > t - delta]

        def payees(a, window=window):
            return [dst[j] for j in window if src[j] == a][-max_scan:]

        p = set(payees(u)) - {v}
        q = [src[j] for j in window if dst[j] == v][-max_scan:]
        q = [w for w in q if w != u]
        shared = {w: set(payees(w)) & p for w in q}
        butterflies = sum(len(s) for s in shared.values())
        rows.append(
            {
                "flow_fresh_copayers": sum(1 for s in shared.values() if s),
                "flow_fresh_copayees": len(set().union(*shared.values())) if q else 0,
                "flow_fresh_butterflies": butterflies,
                "flow_fresh_density": butterflies / (len(p) * len(q)) if butterflies else 0.0,
                "flow_fresh_payer_fanout": max(
                    (sum(1 for j in window if src[j] == w) for w in q), default=0
                ),
                "flow_fresh_fwd_n": sum(
                    1 for j in window if dst[j] == u and low <= paid[i] / received[j] <= high
                ),
            }
        )
    return rows


ledgers = forward_ledgers(max_rows=45, max_account=7, days=6)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ledgers, st.sampled_from([1.0, 3.0]), st.integers(1, 4))
def test_fresh_columns_equal_brute_force(case, delta_days, scan) -> None:
    src, dst, minutes, paid, received = case
    cfg = FlowConfig(delta_days=delta_days, max_scan=scan)
    ledger = make_ledger(src, dst, minutes, paid, received=received)
    got = fresh_features(ledger.transactions, cfg)
    assert got.columns == list(FRESH)
    want = brute_force(
        src, dst, minutes, paid, received, delta=int(delta_days * DAY), max_scan=scan
    )
    want_frame = pl.DataFrame(want, schema=dict.fromkeys(FRESH, pl.Float64))
    np.testing.assert_allclose(got.to_numpy(), want_frame.to_numpy(), rtol=1e-6)


def _columns(src, dst, minutes, **cfg) -> pl.DataFrame:
    ledger = make_ledger(src, dst, minutes)
    return fresh_features(ledger.transactions, FlowConfig(**cfg)).select(BIPARTITE)


def test_a_planted_two_by_three_bipartite_ring_is_seen_by_its_later_legs() -> None:
    # Payers 0, 1 each pay payees 2, 3, 4, one leg an hour; 5 pays 2 (a stranger).
    src = [0, 0, 0, 1, 1, 5, 1]
    dst = [2, 3, 4, 2, 3, 2, 4]
    f = _columns(src, dst, [60 * h for h in range(7)])
    # Row 4 (1 -> 3): 3's fresh payers {0} paid 2 and 4; 1's fresh payees {2}: one butterfly.
    assert f.row(4, named=True) == {
        "flow_fresh_copayers": 1.0,
        "flow_fresh_copayees": 1.0,
        "flow_fresh_butterflies": 1.0,
        "flow_fresh_density": 1.0,
        "flow_fresh_payer_fanout": 3.0,
    }
    # Row 6 (1 -> 4): P = {2, 3}, Q = {0}; 0 paid both: two butterflies, density 1.
    last = f.row(6, named=True)
    assert last["flow_fresh_butterflies"] == 2 and last["flow_fresh_copayees"] == 2
    assert last["flow_fresh_density"] == 1.0
    # The first legs of the ring see nothing.
    assert f.get_column("flow_fresh_butterflies").to_list()[:4] == [0, 0, 0, 0]


def test_repeat_payments_and_old_contacts_are_not_fresh() -> None:
    # The same shape, but 1 -> 2 is a pair first seen 20 days earlier (outside the window):
    # 2 is not a fresh payee of 1 any more, so 1 -> 3 closes no butterfly.
    src = [1, 0, 0, 1, 1]
    dst = [2, 2, 3, 2, 3]
    minutes = [0, 20 * DAY, 20 * DAY + 60, 20 * DAY + 120, 20 * DAY + 180]
    assert _columns(src, dst, minutes).get_column("flow_fresh_butterflies").to_list() == [0] * 5
    # With the first contact inside the window it does.
    close = [0, 60, 120, 180, 240]
    assert _columns(src, dst, close).get_column("flow_fresh_butterflies").to_list()[-1] == 1


def test_the_scan_cap_keeps_only_the_latest_fresh_payers() -> None:
    # 0 pays 9 (fresh); then 1..4 pay 8, and 1 pays 9; then 0 pays 8: Q's latest 2 are {3, 4}.
    src = [0, 1, 1, 2, 3, 4, 0]
    dst = [9, 9, 8, 8, 8, 8, 8]
    f = _columns(src, dst, list(range(7)), max_scan=2)
    assert f.row(6, named=True)["flow_fresh_butterflies"] == 0
    wide = _columns(src, dst, list(range(7)), max_scan=100)
    assert wide.row(6, named=True)["flow_fresh_butterflies"] == 1


def test_only_forwards_of_first_contacts_count_as_fresh_forwards() -> None:
    # 0 pays 1 twice (a regular payer: the second is not a first contact), 2 pays 1 once;
    # 1 then forwards 96 % of 1,000 (matching all three receipts of 1,000).
    src, dst = [0, 0, 2, 1], [1, 1, 1, 3]
    paid = [1000.0, 1000.0, 1000.0, 960.0]
    ledger = make_ledger(src, dst, [0, 60, 120, 180], paid)
    got = fresh_features(ledger.transactions).get_column("flow_fresh_fwd_n").to_list()
    assert got == [0, 0, 0, 2]  # the first 0 -> 1 and 2 -> 1, not the repeat


def test_empty_ledger() -> None:
    ledger = make_ledger([0], [1], [0])
    empty = fresh_features(ledger.transactions.head(0))
    assert empty.height == 0 and empty.columns == list(FRESH)
