"""Substitutes: a known answer on paper, a brute-force twin over random histories, and the seam."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from basketcast.config import FeatureConfig
from basketcast.features import REGISTRY, fit_stats, transform_users
from basketcast.features.substitutes import DESCRIPTIONS
from tests.features.conftest import make_dataset

ON = FeatureConfig(include=("substitutes",), history_targets=0)
MILK_A, MILK_B, MILK_D, BREAD = 10, 20, 40, 30
PRODUCTS = [(MILK_A, 1, 1), (MILK_B, 1, 1), (MILK_D, 1, 1), (BREAD, 2, 1)]

History = dict[int, list[list[int]]]
"""user -> the products of each history order, oldest first (a target order follows them)."""


def _tables(history: History) -> tuple[list[tuple], list[tuple]]:
    orders, lines = [], []
    for user, baskets in history.items():
        for number in range(1, len(baskets) + 2):
            order_id = user * 1000 + number
            eval_set = "train" if number == len(baskets) + 1 else "prior"
            orders.append((order_id, user, eval_set, number, 0, 9, None if number == 1 else 7.0))
            basket = baskets[number - 1] if number <= len(baskets) else [MILK_A]
            lines += [(order_id, product) for product in basket]
    return orders, lines


def _features(history: History, products: list[tuple]) -> dict[tuple[int, int], dict]:
    data = make_dataset(*_tables(history), products)
    items = transform_users(data, fit_stats(data, config=ON), config=ON).items
    return {(r["user_id"], r["product_id"]): r for r in items.iter_rows(named=True)}


def _brute(baskets: list[list[int]], aisle: dict[int, int]) -> dict[int, dict[str, float | None]]:
    """Every column for every product the user bought, straight from the definitions."""
    out: dict[int, dict[str, float | None]] = {}
    for product in {p for basket in baskets for p in basket}:
        if product not in aisle:
            out[product] = dict.fromkeys(DESCRIPTIONS)
            continue
        last = max(i for i, basket in enumerate(baskets) if product in basket)
        before, after = baskets[: last + 1], baskets[last + 1 :]

        def others(basket: list[int], product: int = product) -> list[int]:
            return [q for q in basket if q != product and aisle.get(q) == aisle[product]]

        orders_since = sum(1 for basket in after if others(basket))
        out[product] = {
            "sub_orders_since": len(after),
            "sub_aisle_orders_since": orders_since,
            "sub_aisle_lines_since": sum(len(others(basket)) for basket in after),
            "sub_aisle_products_since": len({q for basket in after for q in others(basket)}),
            "sub_aisle_share_since": orders_since / len(after) if after else None,
            "sub_aisle_rate_before": sum(1 for b in before if others(b)) / len(before),
        }
    return out


def test_known_answer_on_paper():
    # Milk A in orders 1 and 2; milk B in 3 and 4, milk D beside it in 3; bread in every order.
    history = {
        1: [[MILK_A, BREAD], [MILK_A, BREAD], [MILK_B, MILK_D, BREAD], [MILK_B, BREAD]],
    }
    rows = _features(history, PRODUCTS)
    a, b, d, bread = (rows[(1, p)] for p in (MILK_A, MILK_B, MILK_D, BREAD))
    assert a["sub_orders_since"] == 2 and a["sub_aisle_orders_since"] == 2
    assert (a["sub_aisle_lines_since"], a["sub_aisle_products_since"]) == (3, 2)
    assert a["sub_aisle_share_since"] == 1.0 and a["sub_aisle_rate_before"] == 0.0
    # B is in the last order: nothing since; before, another milk in orders 1, 2 and 3.
    assert (b["sub_orders_since"], b["sub_aisle_orders_since"], b["sub_aisle_lines_since"]) == (
        0,
        0,
        0,
    )
    assert b["sub_aisle_products_since"] == 0 and b["sub_aisle_share_since"] is None
    assert b["sub_aisle_rate_before"] == pytest.approx(3 / 4)
    # D, last in order 3: milk B once since; before, milk A in 1 and 2, milk B in 3.
    assert (d["sub_orders_since"], d["sub_aisle_orders_since"], d["sub_aisle_lines_since"]) == (
        1,
        1,
        1,
    )
    assert d["sub_aisle_products_since"] == 1 and d["sub_aisle_share_since"] == 1.0
    assert d["sub_aisle_rate_before"] == 1.0
    # Bread is alone in its aisle.
    assert (bread["sub_aisle_orders_since"], bread["sub_aisle_rate_before"]) == (0, 0.0)


@pytest.mark.parametrize("seed", range(6))
def test_every_column_equals_brute_force_over_random_histories(seed):
    rng = np.random.default_rng(seed)
    aisle = {p: int(rng.integers(1, 4)) for p in range(10, 22)}  # 12 products over 3 aisles
    products = [(p, a, 1) for p, a in aisle.items()]
    catalogue = [*aisle, 99]  # product 99 is missing from the products table
    history: History = {}
    for user in range(1, 9):
        n = 1 if user == 1 else int(rng.integers(1, 9))  # user 1 has one history order
        baskets = []
        for i in range(n):
            size = int(rng.integers(0, 6)) if i else int(rng.integers(1, 6))  # some empty orders
            baskets.append(rng.choice(catalogue, size=size, replace=False).tolist())
        history[user] = baskets
    rows = _features(history, products)
    checked = 0
    for user, baskets in history.items():
        for product, want in _brute(baskets, aisle).items():
            got = rows[(user, product)]
            for column, value in want.items():
                if value is None:
                    assert got[column] is None, (user, product, column)
                else:
                    assert got[column] == pytest.approx(value, rel=1e-6), (user, product, column)
            checked += 1
    assert checked >= 30
    assert len(rows) == checked  # every candidate was checked


def test_a_users_rows_do_not_depend_on_other_users():
    mine = {1: [[MILK_A, BREAD], [MILK_B], [MILK_A, MILK_D], [BREAD]]}
    # Another user buying the same products in other orders, with the same order numbers.
    theirs = {2: [[MILK_B, MILK_D], [MILK_A, MILK_B, BREAD], [MILK_D], [MILK_A], [BREAD]]}
    alone = _features(mine, PRODUCTS)
    together = _features(mine | theirs, PRODUCTS)
    assert {k for k in together if k[0] == 1} == set(alone)
    for key, row in alone.items():
        assert {c: together[key][c] for c in DESCRIPTIONS} == {c: row[c] for c in DESCRIPTIONS}


def test_registered_opt_in_and_switched_on_by_include():
    family = REGISTRY.family("substitutes")
    assert not family.default_on and family.needs_products
    names = REGISTRY.names  # appended after the families before it (earlier runs reproduce)
    assert names.index("substitutes") == names.index("product_facts") + 1 and names[-1] == "order"
    data = make_dataset(*_tables({1: [[MILK_A], [MILK_B, BREAD]]}), PRODUCTS)
    default = FeatureConfig(history_targets=0)
    plain = transform_users(data, fit_stats(data, config=default), config=default).items
    assert not set(DESCRIPTIONS) & set(plain.columns)
    on = transform_users(data, fit_stats(data, config=ON), config=ON).items
    assert on.columns[-len(DESCRIPTIONS) :] == list(DESCRIPTIONS)
    assert on.filter(pl.col("product_id") == MILK_A)["sub_aisle_orders_since"].item() == 1


def test_skipped_without_a_products_table():
    data = make_dataset(*_tables({1: [[MILK_A], [MILK_B]]}))
    items = transform_users(data, fit_stats(data, config=ON), config=ON).items
    assert not set(DESCRIPTIONS) & set(items.columns) and items.height == 2
