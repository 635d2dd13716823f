"""TIFU-KNN as a feature family: the baseline's own scores, the seam, and no target leakage."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from basketcast.config import FeatureConfig
from basketcast.evaluate import truth_from_dataset
from basketcast.evaluate.targets import _history, _targets
from basketcast.evaluate.tifu_fit import fit_tifu
from basketcast.evaluate.tifu_knn import TifuParams
from basketcast.features import build_features, fit_stats, transform_users
from basketcast.features.build import select_users
from basketcast.features.history import cut_history
from basketcast.features.tifu import tifu_index, tifu_values
from tests.features.conftest import make_dataset

ON = FeatureConfig(include=("tifu",), history_targets=0)


def _random_data(seed: int, users: int = 40, items: int = 12):
    """Users with 2-7 orders of random baskets; order ids grow with the user id (so the
    baseline's users, target orders by id, are in the family's user order)."""
    rng = np.random.default_rng(seed)
    orders, lines = [], []
    for u in range(1, users + 1):
        n = int(rng.integers(3, 8))
        for number in range(1, n + 1):
            order_id = u * 100 + number
            eval_set = "prior" if number < n else ("train" if u % 3 else "test")
            gap = None if number == 1 else float(rng.integers(1, 30))
            orders.append((order_id, u, eval_set, number, 0, 9, gap))
            basket = rng.choice(items, size=int(rng.integers(1, 5)), replace=False)
            lines += [(order_id, int(p) + 1) for p in basket]
    return make_dataset(orders, lines)


def test_score_is_the_baselines_own():
    # The paper's settings (k = 900, capped at 39 other users): the baseline's
    # untuned scores at every previously bought item of every target order.
    data = _random_data(0)
    items = transform_users(data, fit_stats(data, config=ON), config=ON).items
    targets = _targets(data, None)
    fit = fit_tifu(_history(data, targets), truth_from_dataset(data), tune=False)
    joined = items.join(fit.repeat_scores, on=["order_id", "product_id"], how="full")
    assert joined.height == items.height == fit.repeat_scores.height
    np.testing.assert_allclose(
        joined["tifu_score"].to_numpy(), joined["score"].to_numpy(), rtol=1e-6, atol=1e-7
    )


def test_small_k_matches_brute_force_neighbours():
    # k = 3 (real neighbour selection): each user's 3 nearest others by Euclidean distance.
    params = TifuParams(k=3)
    data = _random_data(1, users=25)
    lines = cut_history(data, 0).lines.select("user_id", "order_number", "product_id").collect()
    values = tifu_values(lines, tifu_index(lines, params=params), params=params)
    index = tifu_index(lines, params=params)
    wide = (
        index.pivot(on="product_id", index="user_id", values="weight").fill_null(0).sort("user_id")
    )
    vec = wide.drop("user_id").to_numpy()
    cols = [int(c) for c in wide.columns[1:]]
    ids = wide["user_id"].to_list()
    checked = 0
    for u_pos, user in enumerate(ids):
        dist = ((vec - vec[u_pos]) ** 2).sum(axis=1)
        dist[u_pos] = np.inf
        ranked = np.argsort(dist, kind="stable")
        if np.isclose(dist[ranked[2]], dist[ranked[3]]):
            continue  # a near-tie at the k-th neighbour: either choice is right
        mean = vec[ranked[:3]].mean(axis=0)
        mine = values.filter(pl.col("user_id") == user)
        for row in mine.iter_rows(named=True):
            c = cols.index(row["product_id"])
            assert row["tifu_own"] == pytest.approx(vec[u_pos, c])
            assert row["tifu_neighbours"] == pytest.approx(mean[c])
            assert row["tifu_score"] == pytest.approx(0.9 * vec[u_pos, c] + 0.1 * mean[c])
        checked += 1
    assert checked >= 20


def test_one_user_alone_gets_the_rows_of_everyone():
    data = _random_data(2)
    stats = fit_stats(data, config=ON)
    everyone = transform_users(data, stats, config=ON).items
    for user in (1, 17, 40):
        alone = transform_users(select_users(data, [user]), stats, config=ON).items
        theirs = everyone.filter(pl.col("user_id") == user)
        assert alone.equals(theirs)


def test_no_target_basket_reaches_any_vector():
    # Changing only the target orders' baskets (every depth's target) changes no feature
    # value of any user at that depth: the index and the vectors never see them.
    data = _random_data(3, users=20)
    config = FeatureConfig(include=("tifu",), history_targets=2)
    built = build_features(data, config=config)
    before = built.items
    # The None model sees the order's strongest and total TIFU-KNN score.
    assert {"o_tifu_score_max", "o_tifu_score_sum"} <= set(built.orders.columns)
    for depth in (0, 1, 2):
        last = data.orders.group_by("user_id").agg(pl.col("order_number").max().alias("last"))
        target_ids = (
            data.orders.join(last, on="user_id")
            .filter(pl.col("order_number") == pl.col("last") - depth)
            .get_column("order_id")
        )
        flip = pl.col("order_id").is_in(target_ids.implode())
        other = pl.when(flip).then(99).otherwise(pl.col("product_id")).cast(pl.Int64)
        changed = replace(
            data,
            prior=data.prior.with_columns(product_id=other),
            train=data.train.with_columns(product_id=other),
        )
        after = build_features(changed, config=config).items
        cols = ["order_id", "product_id", "tifu_own", "tifu_neighbours", "tifu_score"]
        left = before.filter(pl.col("depth") == depth).select(cols)
        right = after.filter(pl.col("depth") == depth).select(cols)
        assert left.equals(right), depth
