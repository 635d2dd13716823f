"""Two datasets shared by the evaluation tests: a hand-made one and a small synthetic one."""

from __future__ import annotations

import polars as pl
import pytest

from basketcast.data.dataset import Dataset
from basketcast.data.schema import ORDERS, PRIOR, TRAIN
from basketcast.data.sources.synthetic import synthetic
from basketcast.data.validate import validate


@pytest.fixture
def dataset() -> Dataset:
    """Four users, planted so every baseline has a hand-computed answer.

    user 1: prior 11 {1, 2}, 12 {1, 3}, 13 {1, 2, 4}; train 14 {1, 5, 4} -> truth "1 4"
    user 2: prior 21 {6}; train 22 {7} -> truth None
    user 3: prior 31 {8, 9}, 32 {8}; test 33
    user 4: prior 41 (no lines); train 42 (no lines) -> truth None
    """
    orders = pl.DataFrame(
        {
            "order_id": [11, 12, 13, 14, 21, 22, 31, 32, 33, 41, 42],
            "user_id": [1, 1, 1, 1, 2, 2, 3, 3, 3, 4, 4],
            "eval_set": ["prior"] * 3
            + ["train", "prior", "train", "prior", "prior", "test"]
            + ["prior", "train"],
            "order_number": [1, 2, 3, 4, 1, 2, 1, 2, 3, 1, 2],
            "order_dow": [0] * 11,
            "order_hour_of_day": [9] * 11,
            "days_since_prior_order": [None, 7.0, 7.0, 7.0, None, 3.0, None, 5.0, 5.0, None, 1.0],
        },
        schema=ORDERS.polars_schema,
    )
    prior_lines = [
        (11, 1),
        (11, 2),
        (12, 1),
        (12, 3),
        (13, 1),
        (13, 2),
        (13, 4),
        (21, 6),
        (31, 8),
        (31, 9),
        (32, 8),
    ]
    prior = pl.DataFrame(
        {
            "order_id": [o for o, _ in prior_lines],
            "product_id": [p for _, p in prior_lines],
            "add_to_cart_order": [1, 2, 1, 2, 1, 2, 3, 1, 1, 2, 1],
            "reordered": [0] * 11,
        },
        schema=PRIOR.polars_schema,
    )
    # `reordered` is deliberately wrong: the truth must come from the history.
    train = pl.DataFrame(
        {
            "order_id": [14, 14, 14, 22],
            "product_id": [1, 5, 4, 7],
            "add_to_cart_order": [1, 2, 3, 1],
            "reordered": [1, 1, 0, 1],
        },
        schema=TRAIN.polars_schema,
    )
    return Dataset(orders=orders, prior=prior, train=train)


@pytest.fixture(scope="module")
def synthetic_dataset() -> Dataset:
    tables = synthetic(300, seed=11).tables
    return validate({name: frame.lazy() for name, frame in tables.items()})
