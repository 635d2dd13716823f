"""Known answers for the exploration numbers, computed by hand from the tiny history."""

from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal

from basketcast.report import explore
from tests.report._data import make_dataset


def test_reorder_ratio_by_department_known_answer() -> None:
    departments = explore(make_dataset()).departments
    assert departments is not None
    expected = pl.DataFrame(
        {
            "department": ["dairy eggs", "snacks & <b>bold</b>"],
            "lines": [4, 3],
            "reorders": [2, 1],
            "reorder_ratio": [0.5, 1 / 3],
        }
    )
    assert_frame_equal(departments, expected, check_dtypes=False)


def test_per_product_counts_come_from_history_not_reordered_column() -> None:
    products = explore(make_dataset()).products.sort("product_id")
    assert products.get_column("orders").to_list() == [3, 3, 1]
    assert products.get_column("customers").to_list() == [1, 2, 1]
    # every line claims reordered = 1; the history says otherwise
    assert products.get_column("reorders").to_list() == [2, 1, 0]


def test_top_products_orders_and_customers() -> None:
    ex = explore(make_dataset())
    # products 1 and 2 tie on orders (3): the lower id comes first
    assert ex.top_products(by="orders", n=2).get_column("product_id").to_list() == [1, 2]
    assert ex.top_products(by="customers", n=1).get_column("product_id").to_list() == [2]


def test_order_level_counts() -> None:
    ex = explore(make_dataset())
    assert ex.orders_per_user.rows() == [(3, 2)]
    assert ex.dow_hour.get_column("orders").sum() == 6
    # first orders (null gap) are left out
    assert dict(ex.days_since_prior.rows()) == {2: 1, 3: 1, 7: 1, 30: 1}
    facts = dict(ex.facts)
    assert facts["users"] == "2"
    assert facts["prior / train / test orders"] == "4 / 1 / 1"
    assert facts["reorder ratio (from history)"] == f"{3 / 7:.3f}"


def test_sparse_order_ids_take_the_join_path_and_agree() -> None:
    dense = explore(make_dataset()).products.sort("product_id")
    sparse = explore(make_dataset(order_offset=10**12)).products.sort("product_id")
    assert_frame_equal(dense, sparse)


def test_lines_of_unknown_orders_are_dropped_like_an_inner_join() -> None:
    ds = make_dataset()
    stray = ds.prior.head(1).with_columns(pl.lit(99, dtype=pl.Int64).alias("order_id"))
    ds = type(ds)(
        orders=ds.orders,
        prior=pl.concat([ds.prior, stray]),
        train=ds.train,
        products=ds.products,
        departments=ds.departments,
    )
    assert explore(ds).products.get_column("orders").sum() == 7


def test_departments_without_names_use_ids_and_without_products_are_skipped() -> None:
    ids_only = explore(make_dataset(departments=False)).departments
    assert ids_only is not None
    assert ids_only.get_column("department").to_list() == ["department 10", "department 20"]
    no_products = explore(make_dataset(products=False))
    assert no_products.departments is None
    assert no_products.products.get_column("label").to_list()[0].startswith("product ")
