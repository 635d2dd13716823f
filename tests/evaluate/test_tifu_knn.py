"""TIFU-KNN against a brute-force computation of the paper's formulas."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basketcast.evaluate.tifu_fit import GRID, fit_tifu
from basketcast.evaluate.tifu_knn import (
    PAPER_INSTACART,
    TifuParams,
    UserBaskets,
    neighbours,
    parts_at,
    top_items,
    user_vectors,
)

N_ITEMS = 6
# Three hand-made users (baskets oldest first).
USERS = [
    [{1, 2}, {2, 3}, {1}, {2, 4}, {3}],  # t = 5 >= m = 3: groups of 1, 2, 2 baskets
    [{1}, {1, 2}],  # t = 2 < m: each basket its own group
    [{3, 4}, {4}, {4, 5}, {1, 4}],  # t = 4: groups of 1, 1, 2
]


def _brute_vector(baskets: list[set[int]], p: TifuParams) -> np.ndarray:
    """The paper's formulas, written out loop by loop."""
    t = len(baskets)
    if t < p.m:
        groups = [[b] for b in baskets]
    else:
        q, e = divmod(t, p.m)
        sizes = [q] * (p.m - e) + [q + 1] * e
        groups, start = [], 0
        for size in sizes:
            groups.append(baskets[start : start + size])
            start += size
    g = len(groups)
    user = np.zeros(N_ITEMS)
    for i, group in enumerate(groups, start=1):
        n = len(group)
        v = np.zeros(N_ITEMS)
        for j, basket in enumerate(group, start=1):
            for item in basket:
                v[item] += p.r_b ** (n - j)
        user += p.r_g ** (g - i) * v / n
    return user / g


def _brute_predictions(users: list[list[set[int]]], p: TifuParams) -> np.ndarray:
    vectors = np.array([_brute_vector(b, p) for b in users])
    out = np.zeros_like(vectors)
    for u in range(len(users)):
        others = sorted(
            (float(np.sum((vectors[u] - vectors[w]) ** 2)), w) for w in range(len(users)) if w != u
        )
        nearest = [w for _, w in others[: min(p.k, len(users) - 1)]]
        out[u] = p.alpha * vectors[u] + (1 - p.alpha) * vectors[nearest].mean(axis=0)
    return out


def _baskets(users: list[list[set[int]]]) -> UserBaskets:
    lines = pl.DataFrame(
        [(u, j + 1, item) for u, bs in enumerate(users) for j, b in enumerate(bs) for item in b],
        schema={"user": pl.Int64, "order_number": pl.Int64, "product_id": pl.Int64},
        orient="row",
    )
    return UserBaskets.from_lines(
        lines,
        users=pl.Series(range(len(users)), dtype=pl.Int64),
        items=pl.Series(range(N_ITEMS), dtype=pl.Int64),
    )


def _predictions(users: list[list[set[int]]], p: TifuParams) -> np.ndarray:
    vectors = user_vectors(_baskets(users), m=p.m, r_b=p.r_b, r_g=p.r_g)
    order = neighbours(vectors, p.k)
    rows, cols, scores = top_items(vectors, order, p, N_ITEMS)
    dense = np.zeros((len(users), N_ITEMS))
    dense[rows, cols] = scores
    own, means = parts_at(
        vectors, order, [1, p.k, 3], rows=np.repeat(np.arange(len(users)), N_ITEMS),
        cols=np.tile(np.arange(N_ITEMS), len(users)),
    )  # fmt: skip
    mean = means[p.k]
    np.testing.assert_allclose(
        (p.alpha * own + (1 - p.alpha) * mean).reshape(len(users), N_ITEMS), dense, atol=1e-12
    )
    return dense


def test_hand_computed_user_vector() -> None:
    p = TifuParams(m=3, r_b=0.8, r_g=0.6, k=1, alpha=1.0)
    # user 2: two one-basket groups, u = (r_g * b1 + b2) / 2
    np.testing.assert_allclose(_brute_vector(USERS[1], p)[[1, 2]], [(0.6 + 1) / 2, 0.5])
    # user 1: groups [b1], [b2, b3], [b4, b5]; item 3 is in b2 and b5
    expected_3 = (0.6**1 * (0.8**1 / 2) + 0.6**0 * (0.8**0 / 2)) / 3
    assert _brute_vector(USERS[0], p)[3] == pytest.approx(expected_3)
    np.testing.assert_allclose(_predictions(USERS, p), _brute_predictions(USERS, p), atol=1e-12)


@pytest.mark.parametrize("k", [1, 2, 900])
@pytest.mark.parametrize("m", [1, 2, 3, 7])
def test_three_users_equal_brute_force(m: int, k: int) -> None:
    p = TifuParams(m=m, r_b=0.8, r_g=0.6, k=k, alpha=0.7)
    np.testing.assert_allclose(_predictions(USERS, p), _brute_predictions(USERS, p), atol=1e-12)


_basket = st.sets(st.integers(0, N_ITEMS - 1), min_size=1, max_size=4)


@settings(max_examples=25, deadline=None)
@given(
    users=st.lists(st.lists(_basket, min_size=1, max_size=8), min_size=2, max_size=6),
    m=st.integers(1, 5),
    k=st.integers(1, 6),
    r_b=st.sampled_from([0.5, 0.9, 1.0]),
    r_g=st.sampled_from([0.3, 0.7, 1.0]),
)
def test_random_histories_equal_brute_force(users, m, k, r_b, r_g) -> None:
    # Random users can tie in distance: brute force and the code both break ties by position.
    p = TifuParams(m=m, r_b=r_b, r_g=r_g, k=k, alpha=0.6)
    np.testing.assert_allclose(_predictions(users, p), _brute_predictions(users, p), atol=1e-9)


def test_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="r_b"):
        TifuParams(r_b=1.5)
    with pytest.raises(ValueError, match="m and k"):
        TifuParams(m=0)


def test_tuning_on_train_orders(synthetic_dataset) -> None:
    from basketcast.evaluate.targets import _history, _targets, truth_from_dataset

    history = _history(synthetic_dataset, _targets(synthetic_dataset, None))
    truth = truth_from_dataset(synthetic_dataset)
    untuned = fit_tifu(history, truth, tune=False)
    assert untuned.params == PAPER_INSTACART
    assert untuned.tried.height == len(GRID["k"]) * len(GRID["alpha"])  # the centre only
    tuned = fit_tifu(history, truth)
    assert tuned.train_f1 >= untuned.train_f1
    assert tuned.tried.get_column("train_f1").max() == pytest.approx(tuned.train_f1)
    for name in ("m", "r_b", "r_g", "k", "alpha"):
        assert getattr(tuned.params, name) in GRID[name]
    # every target order is ranked, and the repeat scores cover exactly the bought items
    bought = history.select("order_id", "product_id").unique()
    assert (
        tuned.repeat_scores.select("order_id", "product_id")
        .sort(pl.all())
        .equals(bought.sort(pl.all()))
    )
    top = tuned.top_scores.group_by("order_id").len().get_column("len")
    assert top.max() <= 20


def test_best_items_break_ties_by_lower_column() -> None:
    from basketcast.evaluate.tifu_knn import _best

    block = np.array(
        [[1.0, 2.0, 2.0, 2.0, 0.0], [0.0, 0.0, 3.0, 0.0, 0.0], [5.0, 4.0, 3.0, 2.0, 1.0]]
    )
    cols, scores = _best(block, 2)
    assert cols.tolist() == [[1, 2], [2, 0], [0, 1]]
    assert scores.tolist() == [[2.0, 2.0], [3.0, 0.0], [5.0, 4.0]]
    assert _best(block, 4)[0].tolist() == [[1, 2, 3, 0], [2, 0, 1, 3], [0, 1, 2, 3]]
