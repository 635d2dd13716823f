"""Product facts: one-shot ratio, reorder within N orders and the repeat cycle, worked out on paper."""

from __future__ import annotations

import polars as pl
import pytest

from basketcast.config import FeatureConfig
from basketcast.features import fit_stats, transform_users
from basketcast.features.build import select_users
from tests.features.conftest import make_dataset

ON = FeatureConfig(include=("product_facts",), history_targets=0)
A, B, C, D, E, F = 10, 20, 30, 40, 50, 60

ORDERS = [
    # order_id, user, eval_set, number, dow, hour, days since the previous order
    *[(100 + n, 1, "prior", n, 0, 9, None if n == 1 else 7.0) for n in range(1, 6)],  # days 0..28
    (106, 1, "train", 6, 0, 9, 7.0),  # day 35
    (201, 2, "prior", 1, 0, 9, None),  # day 0
    (202, 2, "prior", 2, 0, 9, 10.0),  # day 10
    (203, 2, "prior", 3, 0, 9, 20.0),  # day 30
    (204, 2, "test", 4, 0, 9, 10.0),
    *[(300 + n, 3, "prior", n, 0, 9, None if n == 1 else 1.0) for n in range(1, 8)],  # days 0..6
    (308, 3, "train", 8, 0, 9, 1.0),
]
LINES = [
    # user 1: A in orders 1, 2, 5; C in 3; B in 4 (one order before the target)
    (101, A), (102, A), (103, C), (104, B), (105, A), (106, A),
    # F: user 1 in 2 and 4 (rebought); user 2 in its last visible order 3 (no chance yet)
    (102, F), (104, F), (203, F),
    # user 2: A in 1 (then two more orders), C in 2, B in 3 (its last visible order)
    (201, A), (202, C), (203, B), (204, B),
    # user 3: D in 1 and 6; E in 2, 3, 4, 5, 7
    (301, D), (302, E), (303, E), (304, E), (305, E), (306, D), (307, E), (308, E),
]  # fmt: skip


def _facts():
    data = make_dataset(ORDERS, LINES)
    stats = fit_stats(data, config=ON)
    product = {
        r["product_id"]: r for r in stats.of("product_facts")["product"].iter_rows(named=True)
    }
    items = transform_users(data, stats, config=ON).items
    rows = {(r["user_id"], r["product_id"]): r for r in items.iter_rows(named=True)}
    return product, rows


def test_fitted_facts_on_paper():
    product, _ = _facts()
    a, b, c, d, e = (product[p] for p in (A, B, C, D, E))
    # One-shot ratio: buyers with an order after their first purchase who never rebought.
    # A: user 1 rebought, user 2 did not (2 orders followed) -> 1/2. B: user 1 had one
    # order after it and did not rebuy; user 2 bought it in its last order (no chance).
    assert (a["pf_one_shot_ratio"], b["pf_one_shot_ratio"], c["pf_one_shot_ratio"]) == (
        0.5,
        1.0,
        1.0,
    )
    assert d["pf_one_shot_ratio"] == 0.0
    assert product[F]["pf_one_shot_ratio"] == 0.0  # user 2 had no chance: not counted
    # Within 2 orders, over purchases followed by >= 2 orders: A@1 yes (next at 2),
    # A@2 no (next at 5), user 2's A@1 no -> 1/3. E: every such purchase yes.
    assert a["pf_rebuy_2"] == pytest.approx(1 / 3)
    assert (d["pf_rebuy_2"], e["pf_rebuy_2"]) == (0.0, 1.0)
    # Within 5 orders: only purchases with 5 orders after them count (D@1, E@2).
    assert a["pf_rebuy_5"] is None and a["pf_first_rebuy_5"] is None
    assert (d["pf_rebuy_5"], d["pf_first_rebuy_5"], e["pf_first_rebuy_5"]) == (1.0, 1.0, 1.0)
    # Cycle: A's gaps are 1 and 3 orders, 7 and 21 days; E's 1, 1, 1, 2 orders.
    assert (a["pf_cycle_orders_mean"], a["pf_cycle_orders_median"]) == (2.0, 2.0)
    assert (a["pf_cycle_days_mean"], a["pf_cycle_days_median"]) == (14.0, 14.0)
    assert (e["pf_cycle_orders_mean"], e["pf_cycle_orders_median"]) == (1.25, 1.0)
    assert (d["pf_cycle_orders_mean"], d["pf_cycle_days_median"]) == (5.0, 5.0)
    assert b["pf_cycle_orders_mean"] is None


def test_user_position_in_the_cycle():
    _, rows = _facts()
    # User 1's A: last bought in order 5 (day 28), target order 6 (day 35); cycle 2 orders, 14 days.
    a = rows[(1, A)]
    assert (a["pf_orders_vs_cycle"], a["pf_days_vs_cycle"]) == (0.5, 0.5)
    assert a["pf_one_shot_ratio"] == 0.5  # the fitted fact is joined on too
    # User 3's D: last in order 6 (day 5), target 8 (day 7); cycle 5 orders, 5 days.
    d = rows[(3, D)]
    assert d["pf_orders_vs_cycle"] == pytest.approx(2 / 5)
    assert d["pf_days_vs_cycle"] == pytest.approx(2 / 5)
    assert rows[(1, B)]["pf_orders_vs_cycle"] is None  # B has no cycle


def test_one_user_alone_gets_the_rows_of_everyone():
    data = make_dataset(ORDERS, LINES)
    stats = fit_stats(data, config=ON)
    everyone = transform_users(data, stats, config=ON).items
    for user in (1, 2, 3):
        alone = transform_users(select_users(data, [user]), stats, config=ON).items
        assert alone.equals(everyone.filter(pl.col("user_id") == user))
