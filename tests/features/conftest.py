"""A tiny hand-made order history whose feature values can be worked out on paper."""

from __future__ import annotations

import polars as pl
import pytest

from basketcast.data import schema
from basketcast.data.dataset import Dataset


def make_dataset(
    orders: list[tuple], lines: list[tuple], products: list[tuple] | None = None
) -> Dataset:
    """orders: (order_id, user_id, eval_set, number, dow, hour, days); lines: (order_id, product_id)."""
    o = pl.DataFrame(orders, schema=list(schema.ORDERS.columns), orient="row").cast(
        schema.ORDERS.columns
    )
    rows = []
    position: dict[int, int] = {}
    for order_id, product_id in lines:
        position[order_id] = position.get(order_id, 0) + 1
        rows.append((order_id, product_id, position[order_id], 0))
    li = pl.DataFrame(rows, schema=list(schema.PRIOR.columns), orient="row").cast(
        schema.PRIOR.columns
    )
    eval_of = o.select("order_id", "eval_set")
    li = li.join(eval_of, on="order_id")
    prod = None
    if products is not None:
        prod = pl.DataFrame(
            [(p, f"product {p}", a, d) for p, a, d in products],
            schema=list(schema.PRODUCTS.columns),
            orient="row",
        ).cast(schema.PRODUCTS.columns)
    return Dataset(
        orders=o,
        prior=li.filter(pl.col("eval_set") == "prior").drop("eval_set"),
        train=li.filter(pl.col("eval_set") == "train").drop("eval_set"),
        products=prod,
    )


A, B, C, D = 10, 20, 30, 40

ORDERS = [
    # order_id, user, eval_set, number, dow, hour, days
    (101, 1, "prior", 1, 0, 8, None),
    (102, 1, "prior", 2, 1, 9, 7.0),
    (103, 1, "prior", 3, 0, 10, 7.0),
    (104, 1, "train", 4, 2, 11, 14.0),
    (201, 2, "prior", 1, 3, 12, None),
    (202, 2, "prior", 2, 4, 13, 30.0),
    (203, 2, "test", 3, 5, 14, 3.0),
]
LINES = [
    (101, A), (101, B),
    (102, A), (102, C),
    (103, A), (103, B),
    (104, A), (104, D),
    (201, A),
    (202, B), (202, A),
]  # fmt: skip
PRODUCTS = [(A, 1, 1), (B, 1, 1), (C, 2, 2), (D, 3, 2)]


@pytest.fixture
def tiny() -> Dataset:
    return make_dataset(ORDERS, LINES, PRODUCTS)
