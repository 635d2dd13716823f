"""`predict --orders next`: every user's next order from a live history (`basketcast.next_orders`)."""

from __future__ import annotations

import dataclasses
import statistics
from collections import Counter

import polars as pl
import pytest

from basketcast.data.load import load_dataset
from basketcast.data.sources.synthetic import synthetic, write_synthetic
from basketcast.next_orders import with_next_orders


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("next")
    write_synthetic(synthetic(120, seed=7), folder, format="parquet")
    return folder


def _typical(rows: list[dict]) -> tuple[int, int, float | None]:
    """Brute force: the most frequent day and hour (ties: the smallest), the median gap."""

    def mode(values: list[int]) -> int:
        counts = Counter(values)
        return min(v for v in counts if counts[v] == max(counts.values()))

    gaps = [r["days_since_prior_order"] for r in rows if r["days_since_prior_order"] is not None]
    return (
        mode([r["order_dow"] for r in rows]),
        mode([r["order_hour_of_day"] for r in rows]),
        float(statistics.median(gaps)) if gaps else None,
    )


def test_every_user_gets_one_next_order_with_their_typical_context(data_dir) -> None:
    before = load_dataset(data_dir)
    after = with_next_orders(before)
    orders = after.orders
    tests = orders.filter(pl.col("eval_set") == "test")
    assert tests.get_column("user_id").sort().to_list() == sorted(
        before.orders.get_column("user_id").unique().to_list()
    )
    assert after.train.is_empty() and orders.filter(pl.col("eval_set") == "train").is_empty()
    # Known train baskets are history now, line for line.
    assert after.prior.height == before.prior.height + before.train.height
    pending = before.orders.filter(pl.col("eval_set") == "test")
    assert pending.join(tests, on=pending.columns, how="anti").is_empty()  # kept as they were
    new = tests.join(pending, on="order_id", how="anti")
    assert new.height == before.orders.filter(pl.col("eval_set") == "train").height > 0
    assert new.get_column("order_id").min() > before.orders.get_column("order_id").max()
    assert new.get_column("order_id").n_unique() == new.height
    for row in new.iter_rows(named=True):
        past = before.orders.filter(pl.col("user_id") == row["user_id"])
        assert row["order_number"] == past.get_column("order_number").max() + 1
        context = (row["order_dow"], row["order_hour_of_day"], row["days_since_prior_order"])
        assert context == pytest.approx(_typical(past.to_dicts()))
    assert orders.schema == before.orders.schema


def test_a_user_with_prior_orders_only_gets_the_order_after_the_last(data_dir) -> None:
    full = load_dataset(data_dir)
    train = full.orders.filter(pl.col("eval_set") == "train").head(5)
    live = dataclasses.replace(
        full,
        orders=full.orders.join(train, on="order_id", how="anti"),
        train=full.train.join(train, on="order_id", how="anti"),
    )
    after = with_next_orders(live).orders
    for row in train.iter_rows(named=True):
        mine = after.filter(pl.col("user_id") == row["user_id"]).sort("order_number")
        assert mine.get_column("eval_set").cast(pl.String).to_list()[-1] == "test"
        assert mine.row(-1, named=True)["order_number"] == row["order_number"]  # the dropped one's
        past = live.orders.filter(pl.col("user_id") == row["user_id"]).to_dicts()
        last = mine.row(-1, named=True)
        context = (last["order_dow"], last["order_hour_of_day"], last["days_since_prior_order"])
        assert context == pytest.approx(_typical(past))
