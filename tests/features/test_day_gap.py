"""Days since the last purchase against the user's own gaps: a known answer worked out on paper."""

from __future__ import annotations

import pytest

from basketcast.config import FeatureConfig
from basketcast.features import fit_stats, transform_users
from tests.features.conftest import make_dataset

ON = FeatureConfig(include=("day_gap",), history_targets=0)


def test_known_answer_on_paper():
    orders = [
        # order_id, user, eval_set, number, dow, hour, days since the previous order
        (1, 1, "prior", 1, 0, 9, None),  # day 0
        (2, 1, "prior", 2, 0, 9, 7.0),  # day 7
        (3, 1, "prior", 3, 0, 9, 7.0),  # day 14
        (4, 1, "prior", 4, 0, 9, 14.0),  # day 28
        (5, 1, "train", 5, 0, 9, 3.0),  # day 31: the target
    ]
    # A on days 0, 7, 28 (gaps 7 and 21); B on day 14 only.
    lines = [(1, 10), (2, 10), (3, 20), (4, 10), (5, 10)]
    data = make_dataset(orders, lines)
    items = transform_users(data, fit_stats(data, config=ON), config=ON).items
    rows = {r["product_id"]: r for r in items.iter_rows(named=True)}
    a, b = rows[10], rows[20]
    assert (a["dg_days_since"], a["dg_gap_mean"], a["dg_gap_max"]) == (3.0, 14.0, 21.0)
    assert a["dg_minus_max"] == -18.0
    assert a["dg_over_mean"] == pytest.approx(3 / 14)
    assert b["dg_days_since"] == 17.0
    assert b["dg_gap_mean"] is None and b["dg_minus_max"] is None and b["dg_over_mean"] is None
