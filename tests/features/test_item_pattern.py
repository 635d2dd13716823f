"""Onodera's item patterns: known answers worked out on paper, and brute force over 0/1 series."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from basketcast.config import FeatureConfig
from basketcast.features import fit_stats, transform_users
from basketcast.features.build import select_users
from basketcast.features.item_pattern import PATTERNS
from tests.features.conftest import make_dataset

ON = FeatureConfig(include=("item_pattern",), history_targets=0)


def _history(series: dict[int, dict[int, list[int]]]) -> tuple[list[tuple], list[tuple]]:
    """user -> product -> 0/1 series over the history orders; a train order follows them.

    Every history order also holds product 0 so that no order is empty.
    """
    orders, lines = [], []
    for user, products in series.items():
        n = len(next(iter(products.values())))
        for number in range(1, n + 2):
            order_id = user * 1000 + number
            eval_set = "train" if number == n + 1 else "prior"
            orders.append((order_id, user, eval_set, number, 0, 9, None if number == 1 else 7.0))
            lines.append((order_id, 0))
            for product, bought in products.items():
                if number <= n and bought[number - 1]:
                    lines.append((order_id, product))
    return orders, lines


def _features(orders: list[tuple], lines: list[tuple]) -> pl.DataFrame:
    data = make_dataset(orders, lines)
    stats = fit_stats(data, config=ON)
    return transform_users(data, stats, config=ON).items


def _brute(b: list[int]) -> dict[str, float | None]:
    """Every pattern's successes, chances and ratio, straight from the definition."""
    out: dict[str, float | None] = {}
    n = len(b)
    for p in PATTERNS:
        k = len(p)
        chances = successes = 0
        for t in range(k, n):  # t is 1-based: the pattern covers orders t-k+1..t; t+1 <= n
            if "".join(map(str, b[t - k : t])) == p:
                chances += 1
                successes += b[t]
        out[f"ip{p}_n"] = float(successes)
        out[f"ip{p}_chances"] = float(chances)
        out[f"ip{p}_ratio"] = successes / chances if chances else None
    return out


def test_known_answer_on_paper():
    # Product 10 in history orders 1, 2, 4, 5 of 6; product 20 in order 3 only.
    orders, lines = _history({1: {10: [1, 1, 0, 1, 1, 0], 20: [0, 0, 1, 0, 0, 0]}})
    rows = {r["product_id"]: r for r in _features(orders, lines).iter_rows(named=True)}
    ten = rows[10]
    expected_ten = {
        "1": (2, 4), "11": (0, 2), "10": (1, 1), "111": (0, 0),
        "110": (1, 1), "101": (1, 1), "100": (0, 0),
    }  # fmt: skip
    for p, (n, chances) in expected_ten.items():
        assert (ten[f"ip{p}_n"], ten[f"ip{p}_chances"]) == (n, chances), p
    assert ten["ip1_ratio"] == pytest.approx(0.5)
    assert ten["ip111_ratio"] is None and ten["ip11_ratio"] == 0.0
    twenty = rows[20]
    for p in ("1", "10", "100"):  # one chance each (t = 3, 4, 5), never followed by a purchase
        assert (twenty[f"ip{p}_n"], twenty[f"ip{p}_chances"]) == (0, 1), p


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_pattern_equals_brute_force_over_random_series(seed):
    rng = np.random.default_rng(seed)
    series: dict[int, dict[int, list[int]]] = {}
    for user in range(1, 7):
        n = int(rng.integers(2, 12))
        series[user] = {}
        for product in range(10, 15):
            b = (rng.random(n) < rng.uniform(0.2, 0.8)).astype(int).tolist()
            if sum(b):
                series[user][product] = b
        if not series[user]:
            series[user][10] = [1] * n
    frame = _features(*_history(series))
    rows = {(r["user_id"], r["product_id"]): r for r in frame.iter_rows(named=True)}
    checked = 0
    for user, products in series.items():
        for product, b in products.items():
            got = rows[(user, product)]
            for column, value in _brute(b).items():
                if value is None:
                    assert got[column] is None, (user, product, column)
                else:
                    assert got[column] == pytest.approx(value, rel=1e-6), (user, product, column)
            checked += 1
    assert checked >= 20


def test_off_by_default_and_a_user_alone_gets_the_same_rows():
    orders, lines = _history({1: {10: [1, 0, 1, 1]}, 2: {10: [0, 1, 1, 0], 11: [1, 1, 1, 1]}})
    data = make_dataset(orders, lines)
    default = FeatureConfig(history_targets=0)
    plain = transform_users(data, fit_stats(data, config=default), config=default).items
    assert not any(c.startswith("ip") for c in plain.columns)
    stats = fit_stats(data, config=ON)
    everyone = transform_users(data, stats, config=ON).items.filter(pl.col("user_id") == 2)
    alone = transform_users(select_users(data, [2]), stats, config=ON).items
    assert alone.equals(everyone) and alone.height == 3  # products 0, 10, 11
    with pytest.raises(ValueError, match="unknown feature families"):
        transform_users(data, stats, config=FeatureConfig(include=("onodera",)))
