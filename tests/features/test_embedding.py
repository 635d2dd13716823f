"""Basket embeddings: a planted structure found, determinism, brute force, rotation invariance, the seam."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from basketcast.config import FeatureConfig
from basketcast.features import REGISTRY, build_features, fit_stats, transform_users
from basketcast.features.build import select_users
from basketcast.features.embedding import DESCRIPTIONS, VECTOR_COLUMNS, product_vectors
from basketcast.features.history import cut_history
from tests.features.conftest import make_dataset

ON = FeatureConfig(include=("embedding",), history_targets=0)
COLUMNS = list(DESCRIPTIONS)


def _random_data(seed: int, users: int = 40, items: int = 15, groups: int = 1):
    """Users with 3-8 orders of random baskets; with ``groups`` > 1, user u buys only from
    the products of group u % groups (``items`` products each, disjoint)."""
    rng = np.random.default_rng(seed)
    orders, lines = [], []
    for u in range(1, users + 1):
        offset = (u % groups) * items
        n = int(rng.integers(3, 9))
        for number in range(1, n + 1):
            order_id = u * 100 + number
            eval_set = "prior" if number < n else ("train" if u % 3 else "test")
            gap = None if number == 1 else float(rng.integers(1, 30))
            orders.append((order_id, u, eval_set, number, 0, 9, gap))
            basket = rng.choice(items, size=int(rng.integers(1, 6)), replace=False)
            lines += [(order_id, offset + int(p) + 1) for p in basket]
    return make_dataset(orders, lines)


def _vectors(stats) -> dict[int, np.ndarray]:
    frame = stats.of("embedding")["vectors"]
    matrix = frame.select(VECTOR_COLUMNS).to_numpy().astype(np.float64)
    return dict(zip(frame["product_id"].to_list(), matrix, strict=True))


def _planted(users: int = 120, items: int = 12, seed: int = 0):
    """Two groups of users: user u buys each product of group u % 2 (``items`` products each,
    disjoint) with probability 0.8 in every order; and user 2 once bought product
    ``items + 1`` of the other group (a stray purchase)."""
    rng = np.random.default_rng(seed)
    orders, lines = [], []
    for u in range(1, users + 1):
        offset = (u % 2) * items
        n = int(rng.integers(4, 9))
        for number in range(1, n + 1):
            order_id = u * 100 + number
            eval_set = "prior" if number < n else "train"
            orders.append((order_id, u, eval_set, number, 0, 9, None if number == 1 else 7.0))
            basket = np.flatnonzero(rng.random(items) < 0.8)
            lines += [(order_id, offset + int(p) + 1) for p in (basket if basket.size else [0])]
    return make_dataset(orders, [*lines, (201, items + 1)])


def test_planted_groups_are_found():
    # The vectors of one group's products point together, and away from the other group's.
    items = 12
    data = _planted(items=items)
    stats = fit_stats(data, config=ON)
    vectors = _vectors(stats)
    assert len(vectors) == 2 * items  # every product has at least two buyers
    even = np.array([vectors[p] for p in range(1, items + 1)])  # bought by even users
    odd = np.array([vectors[p] for p in range(items + 1, 2 * items + 1)])
    pairs = np.triu_indices(items, 1)
    within = np.concatenate([(even @ even.T)[pairs], (odd @ odd.T)[pairs]])
    assert within.min() > 0.9, within.min()
    assert np.abs(even @ odd.T).max() < 0.1, np.abs(even @ odd.T).max()

    # User 2 (even) has one stray product of the other group among their candidates:
    # their taste is close to every own-group product and far from the stray one.
    rows = transform_users(data, stats, config=ON).items.filter(pl.col("user_id") == 2)
    stray = pl.col("product_id") == items + 1
    own = rows.filter(~stray)
    assert own.height >= items - 1 and rows.filter(stray).height == 1
    assert own["emb_user_cos"].min() > 0.9 > 0.1 > rows.filter(stray)["emb_user_cos"].item()
    # Its closest relative among the user's other products is still far off.
    assert (
        rows.filter(stray)["emb_other_max_cos"].item() < 0.1 < 0.9 < own["emb_other_max_cos"].min()
    )


def test_two_fits_give_the_same_bits_whatever_the_line_order():
    data = _random_data(1)
    lines = cut_history(data, 0).lines.select("user_id", "product_id").collect()
    once = product_vectors(lines)
    assert once.height > 10
    assert once.equals(product_vectors(lines))
    shuffled = lines.sample(fraction=1.0, shuffle=True, seed=3)
    assert product_vectors(shuffled).equals(once)
    # Unit length, float32, and no vector for a product with a single buyer.
    norms = np.linalg.norm(once.select(VECTOR_COLUMNS).to_numpy(), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-6)
    assert once.schema[VECTOR_COLUMNS[0]] == pl.Float32
    buyers = lines.group_by("product_id").agg(pl.col("user_id").n_unique().alias("b"))
    lonely = buyers.filter(pl.col("b") < 2)["product_id"]
    assert not set(lonely.to_list()) & set(once["product_id"].to_list())


def _brute_force(data, stats) -> pl.DataFrame:
    """The three cosines per (user, product), by loops over each user's history in float64."""
    vectors = _vectors(stats)
    history = cut_history(data, 0).lines.collect()
    rows = []
    for (user,), mine in history.group_by("user_id"):
        counts = mine.group_by("product_id").agg(n=pl.len(), last=pl.col("order_number").max())
        last_order = counts["last"].max()
        taste, recent = np.zeros(len(VECTOR_COLUMNS)), np.zeros(len(VECTOR_COLUMNS))
        for product, n, last in counts.iter_rows():
            if product in vectors:
                taste += n * vectors[product]
                recent += vectors[product] if last == last_order else 0.0
        for product, _, _ in counts.iter_rows():
            v = vectors.get(product)
            if v is None:
                rows.append((user, product, None, None, None))
                continue
            others = [vectors[p] @ v for p in counts["product_id"] if p != product and p in vectors]
            cos = [v @ t / np.linalg.norm(t) if t.any() else None for t in (taste, recent)]
            rows.append((user, product, *cos, max(others) if others else None))
    return pl.DataFrame(rows, schema=["user_id", "product_id", *COLUMNS], orient="row")


def test_cosines_match_brute_force():
    data = _random_data(2, users=50, items=120)
    stats = fit_stats(data, config=ON)
    items = transform_users(data, stats, config=ON).items.select("user_id", "product_id", *COLUMNS)
    want = _brute_force(data, stats)
    joined = items.join(want, on=["user_id", "product_id"], how="left", suffix="_want")
    assert joined.height == items.height > 100
    for column in COLUMNS:
        got, expect = joined[column], joined[f"{column}_want"]
        assert got.is_null().equals(expect.is_null()), column
        np.testing.assert_allclose(
            got.drop_nulls().to_numpy(), expect.drop_nulls().to_numpy(), atol=1e-6
        )
    # Some products have no vector (one buyer) and their rows are null; most rows have values.
    assert 0 < joined["emb_user_cos"].null_count() < joined.height / 2


def test_features_do_not_move_when_the_vectors_are_rotated():
    # Each depth's SVD may come out rotated: the features (cosines) must not see it.
    data = _random_data(4)
    stats = fit_stats(data, config=ON)
    frame = stats.of("embedding")["vectors"]
    q, _ = np.linalg.qr(np.random.default_rng(5).normal(size=(len(VECTOR_COLUMNS),) * 2))
    turned = (frame.select(VECTOR_COLUMNS).to_numpy().astype(np.float64) @ q).astype(np.float32)
    rotated = frame.select("product_id").with_columns(
        pl.Series(c, turned[:, i]) for i, c in enumerate(VECTOR_COLUMNS)
    )
    assert not rotated.equals(frame)
    other = replace(stats, tables={**stats.tables, "embedding": {"vectors": rotated}})
    before = transform_users(data, stats, config=ON).items
    after = transform_users(data, other, config=ON).items
    for column in COLUMNS:
        assert before[column].is_null().equals(after[column].is_null())
        np.testing.assert_allclose(
            before[column].drop_nulls().to_numpy(), after[column].drop_nulls().to_numpy(), atol=1e-5
        )


def test_a_users_rows_do_not_depend_on_other_users():
    data = _random_data(6)
    stats = fit_stats(data, config=ON)
    everyone = transform_users(data, stats, config=ON).items
    users = data.orders.get_column("user_id").unique()
    shard = users.hash(seed=0) % 3
    parts = [
        transform_users(select_users(data, users.filter(shard == k)), stats, config=ON).items
        for k in range(3)
    ]
    keys = ["order_id", "product_id"]
    assert pl.concat(parts).sort(keys).equals(everyone.sort(keys))
    for user in (1, 17, 40):
        alone = transform_users(select_users(data, [user]), stats, config=ON).items
        assert alone.equals(everyone.filter(pl.col("user_id") == user))


def test_registered_opt_in_and_switched_on_by_include():
    family = REGISTRY.family("embedding")
    assert not family.default_on and family.joins_product_stats
    assert all(REGISTRY.describe(c) for c in COLUMNS)
    names = REGISTRY.names  # appended after the families before it (earlier runs reproduce)
    assert names.index("embedding") == names.index("substitutes") + 1 and names[-1] == "order"
    data = _random_data(7, users=12)
    default = build_features(data, config=FeatureConfig(history_targets=1)).items
    assert not set(COLUMNS) & set(default.columns)
    on = build_features(data, config=FeatureConfig(history_targets=1, include=("embedding",)))
    assert on.items.columns[-3:] == COLUMNS
    assert on.items.drop(COLUMNS).equals(default)
    assert sorted(on.items["depth"].unique()) == [0, 1]


@pytest.mark.parametrize("users", [1, 2])
def test_too_few_users_for_any_vector_gives_null_features(users):
    data = _random_data(8, users=users)
    items = transform_users(data, fit_stats(data, config=ON), config=ON).items
    if users == 1:
        assert items.select(COLUMNS).null_count().row(0) == (items.height,) * 3
    assert items.height > 0
