"""Check a data folder's `truth.csv` against its test orders, before anything is trained.

A truth file that does not parse, that names other orders than the test
orders, or that lists products the user never bought before (a stale file
from another data set) is an error of the validate stage, not a surprise
after training.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from basketcast.data.dataset import DataError, Dataset, Problem

__all__ = ["check_truth"]

_N_EXAMPLES = 5


def _ids(frame: pl.DataFrame) -> tuple[str, ...]:
    return tuple(str(v) for v in frame.get_column("order_id").sort().head(_N_EXAMPLES).to_list())


def check_truth(dataset: Dataset, path: str | Path) -> pl.DataFrame:
    """Read `path` and check it answers exactly the dataset's test orders; return it.

    Raises
    ------
    DataError
        The file's own problems (as `basketcast.evaluate.read_truth`), test
        orders it lacks, orders it has that are not test orders, and products
        the user had not bought before the order (all at once).
    """
    from basketcast.evaluate import read_truth

    path = Path(path)
    truth = read_truth(path)
    source = str(path)
    test = dataset.orders.filter(pl.col("eval_set") == "test").select("order_id", "user_id")
    problems: list[Problem] = []
    missing = test.join(truth, on="order_id", how="anti")
    if missing.height:
        problems.append(
            Problem(source, "order_id", "test orders of the data with no truth row",
                    missing.height, _ids(missing))
        )  # fmt: skip
    extra = truth.join(test, on="order_id", how="anti")
    if extra.height:
        problems.append(
            Problem(source, "order_id", "orders that are not test orders of the data",
                    extra.height, _ids(extra))
        )  # fmt: skip
    tokens = (
        truth.join(test, on="order_id")
        .with_columns(pl.col("products").str.split(" "))
        .explode("products", empty_as_null=True)
        .filter(pl.col("products") != "None")
        .with_columns(product_id=pl.col("products").cast(pl.Int64, strict=False))
    )
    # Only the test users' prior lines matter; the anti-join needs no unique() over them.
    test_users = test.select("user_id")
    prior_orders = dataset.orders.join(test_users, on="user_id", how="semi").select(
        "order_id", "user_id"
    )
    history = dataset.prior.select("order_id", "product_id").join(prior_orders, on="order_id")
    unseen = tokens.join(history, on=["user_id", "product_id"], how="anti")
    if unseen.height:
        examples = tuple(
            f"order {o}: product {p}"
            for o, p in unseen.sort("order_id")
            .head(_N_EXAMPLES)
            .select("order_id", "product_id")
            .iter_rows()
        )
        problems.append(
            Problem(source, "products",
                    "products the user had not bought before the order (a truth file of other data?)",
                    unseen.height, examples)
        )  # fmt: skip
    if problems:
        raise DataError(problems, source=source)
    return truth
