"""Feature values worked out by hand on the tiny history, labels, depths and the no-leakage rule."""

from __future__ import annotations

import polars as pl
import pytest

from basketcast.config import AUTO_HISTORY_TARGETS, FeatureConfig
from basketcast.data.sources.synthetic import synthetic
from basketcast.data.validate import validate
from basketcast.features import registry
from basketcast.features.build import ID_COLUMNS, build_features, feature_names
from tests.features.conftest import LINES, ORDERS, PRODUCTS, A, B, C, D, make_dataset


def row(frame: pl.DataFrame, *, depth: int, user: int, product: int) -> dict:
    hit = frame.filter(
        (pl.col("depth") == depth) & (pl.col("user_id") == user) & (pl.col("product_id") == product)
    )
    assert hit.height == 1, hit
    return hit.row(0, named=True)


def test_candidates_and_labels_per_depth(tiny):
    items = build_features(tiny, config=FeatureConfig(history_targets=2)).items
    got = {
        (r["depth"], r["user_id"], r["product_id"]): r["label"]
        for r in items.select("depth", "user_id", "product_id", "label").to_dicts()
    }
    assert got == {
        # depth 0: user 1's train order 104 holds A (and D, never bought before); user 2 is a test user.
        (0, 1, A): 1, (0, 1, B): 0, (0, 1, C): 0,
        (0, 2, A): None, (0, 2, B): None,
        # depth 1: targets are 103 (history 101, 102) and 202 (history 201).
        (1, 1, A): 1, (1, 1, B): 1, (1, 1, C): 0,
        (1, 2, A): 1,
        # depth 2: target 102 (history 101); user 2 has no order left before a depth-2 target.
        (2, 1, A): 1, (2, 1, B): 0,
    }  # fmt: skip


def test_auto_history_targets_build_the_depths_of_their_number():
    # 60 synthetic users with long histories are "small data": auto builds AUTO_HISTORY_TARGETS.
    tables = synthetic(60, seed=3, threads=1).tables
    data = validate({name: frame.lazy() for name, frame in tables.items()})
    auto = build_features(data, config=FeatureConfig()).items
    assert sorted(auto.get_column("depth").unique()) == list(range(AUTO_HISTORY_TARGETS + 1))
    four = build_features(data, config=FeatureConfig(history_targets=AUTO_HISTORY_TARGETS)).items
    assert auto.equals(four)


def test_hand_computed_values(tiny):
    items = build_features(tiny, config=FeatureConfig(history_targets=0)).items
    a, b, c = (row(items, depth=0, user=1, product=p) for p in (A, B, C))
    assert a["u_orders"] == 3
    assert a["u_reorder_ratio"] == pytest.approx(3 / 4)  # orders 2-3: A, C | A, B
    assert a["u_none_share"] == 0
    assert a["u_days_mean"] == pytest.approx(7)
    assert (a["up_orders"], b["up_orders"], c["up_orders"]) == (3, 2, 1)
    assert (a["up_share"], b["up_share"], c["up_share"]) == pytest.approx((1, 2 / 3, 1 / 3))
    assert (a["up_orders_since_last"], b["up_orders_since_last"], c["up_orders_since_last"]) == (
        1,
        1,
        2,
    )
    assert (a["up_streak"], b["up_streak"], c["up_streak"]) == (3, 1, 0)
    assert (a["up_in_last3"], b["up_in_last3"], c["up_in_last1"]) == (3, 2, 0)
    assert c["up_days_since_last_hist"] == 7  # C last bought on day 7, last order on day 14
    assert c["up_days_since_last"] == 21  # ... and the target comes 14 days later
    assert b["up_cycle_orders"] == 2 and b["up_cycle_days"] == 14
    assert c["up_cycle_orders"] is None
    # A's lines in every history: u1 101 (new) 102 (re) 103 (re), u2 201 (new) 202 (re).
    assert a["p_reorder_prob"] == pytest.approx(3 / 5)
    assert a["p_buyers"] == 2 and a["p_one_time_share"] == 0
    # Aisle 1 holds A and B: user 1 bought 5 of 6 lines there.
    assert a["ua_share"] == pytest.approx(5 / 6)
    assert c["ud_share"] == pytest.approx(1 / 6)
    assert (a["t_dow"], a["t_hour"], a["t_days"]) == (2, 11, 14)
    assert a["t_days_vs_user"] == pytest.approx(7)


def test_every_feature_is_described_and_float32(tiny):
    frames = build_features(tiny, config=FeatureConfig(history_targets=1))
    for frame in (frames.items, frames.orders):
        names = feature_names(frame)
        assert names, "no features"
        assert all(registry.describe(n) for n in names), [
            n for n in names if not registry.describe(n)
        ]
        assert all(frame.schema[n] == pl.Float32 for n in names)
        assert frame.select(pl.col(names).is_nan().any() | pl.col(names).is_infinite().any()).row(
            0
        ) == (False,) * len(names)
    assert frames.items.columns[:5] == list(ID_COLUMNS)


def test_ratios_over_zero_are_missing_not_infinite():
    # User 3 places all orders on the same day: mean gap 0, cycle 0 days.
    orders = [
        *ORDERS,
        (301, 3, "prior", 1, 0, 8, None),
        (302, 3, "prior", 2, 0, 9, 0.0),
        (303, 3, "train", 3, 0, 10, 0.0),
    ]
    lines = [*LINES, (301, A), (302, A), (303, A)]
    items = build_features(
        make_dataset(orders, lines, PRODUCTS), config=FeatureConfig(history_targets=0)
    ).items
    mine = row(items, depth=0, user=3, product=A)
    assert (
        mine["u_days_mean"] == 0
        and mine["t_days_ratio"] is None
        and mine["up_days_vs_cycle"] is None
    )


def test_context_switch_removes_target_dependent_features(tiny):
    items = build_features(
        tiny, config=FeatureConfig(history_targets=0, exclude=("context",))
    ).items
    assert not {"t_days", "t_dow", "up_days_since_last"} & set(items.columns)
    assert "up_days_since_last_hist" in items.columns


def test_without_products_there_are_no_shelf_features(tiny):
    bare = make_dataset(ORDERS, LINES, None)
    items = build_features(bare, config=FeatureConfig(history_targets=0)).items
    assert "ua_share" not in items.columns and "aisle_id" not in items.columns
    assert items.height == 5


def test_order_frame_labels_none(tiny):
    orders = build_features(tiny, config=FeatureConfig(history_targets=2)).orders
    labels = {(r["depth"], r["order_id"]): r["label"] for r in orders.to_dicts()}
    assert labels == {(0, 104): 0, (0, 203): None, (1, 103): 0, (1, 202): 0, (2, 102): 0}
    # Change order 103 so that it reorders nothing: its depth-1 order row becomes a None.
    lines = [(o, p) for o, p in LINES if o != 103] + [(103, D)]
    orders = build_features(
        make_dataset(ORDERS, lines, PRODUCTS), config=FeatureConfig(history_targets=1)
    ).orders
    assert orders.filter(pl.col("order_id") == 103)["label"].to_list() == [1]


def test_no_leakage_from_the_target_or_later_orders():
    """Altering a depth-1 target's own lines and every later order leaves the depth-1 features unchanged."""
    config = FeatureConfig(history_targets=2)
    before = build_features(make_dataset(ORDERS, LINES, PRODUCTS), config=config).items
    # User 1's depth-1 target is 103; 104 comes after it. Rewrite both, and 104's timing.
    lines = [(o, p) for o, p in LINES if o not in (103, 104)] + [(103, C), (103, D), (104, B)]
    orders = [(*o[:4], 6, 23, 30.0) if o[0] == 104 else o for o in ORDERS]
    after = build_features(make_dataset(orders, lines, PRODUCTS), config=config).items
    for depth in (1, 2):
        old = before.filter(pl.col("depth") == depth).drop("label")
        new = after.filter(pl.col("depth") == depth).drop("label")
        assert old.equals(new), depth
    # The labels of 103 did change, and depth 0 (which sees 103) changed too.
    assert not before.filter(pl.col("depth") == 1)["label"].equals(
        after.filter(pl.col("depth") == 1)["label"]
    )
    assert not before.filter(pl.col("depth") == 0).equals(after.filter(pl.col("depth") == 0))
