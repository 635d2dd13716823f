"""The real Complete Journey data converted end to end; the figures are those measured once."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from basketcast.cli import app
from basketcast.data.load import load_dataset
from basketcast.data.sources.complete_journey import complete_journey, complete_journey_tables
from basketcast.data.sources.transactions import Converted
from basketcast.data.validate import validate

pytestmark = pytest.mark.slow  # real data: ~5 s per conversion


@pytest.fixture(scope="module")
def converted() -> Converted:
    return complete_journey()


def test_source_facts_quoted_in_the_docstring() -> None:
    lines, products = complete_journey_tables()
    assert lines.height == 1_469_307
    assert lines.get_column("household_id").n_unique() == 2_469
    assert lines.get_column("basket_id").n_unique() == 155_848
    assert products.height == 92_331
    unknown = lines.join(products, on="product_id", how="anti")
    assert (unknown.height, unknown.get_column("product_id").n_unique()) == (4_836, 17)
    assert unknown.filter(pl.col("quantity") == 0).height == 4_804
    assert lines.filter(pl.col("quantity") == 0).height == 8_869
    assert lines.filter(pl.col("sales_value") <= 0).height == 11_226
    assert lines.filter(pl.col("sales_value") < 0).height == 0
    per_basket = lines.group_by("basket_id").agg(
        pl.col("transaction_timestamp").n_unique().alias("times"),
        (pl.len() - pl.col("product_id").n_unique()).alias("repeats"),
    )
    assert per_basket.get_column("times").max() == 1
    assert per_basket.get_column("repeats").max() == 0
    baskets = (
        lines.group_by("household_id").agg(pl.col("basket_id").n_unique()).get_column("basket_id")
    )
    assert (baskets.min(), baskets.max()) == (1, 780)


def test_summary_counts(converted: Converted) -> None:
    s = converted.summary
    assert s["lines_source"] == 1_469_307
    assert (s["lines_quantity_zero_dropped"], s["baskets_emptied"]) == (8_869, 330)
    assert s["lines_free_kept"] == 2_406
    assert s["lines_unknown_product"] == 4_836
    assert (s["products_placeholder"], s["lines_placeholder_product"]) == (3, 32)
    assert s["lines_merged"] == 0
    assert (s["users_single_order_dropped"], s["lines_single_order_dropped"]) == (31, 382)
    assert (s["users"], s["orders"]) == (2_438, 155_487)
    assert (s["train_orders"], s["test_orders"], s["test_orders_none"]) == (1_954, 484, 112)
    assert s["gaps_capped_at_30_days"] == 3_081
    assert (s["products"], s["aisles"], s["departments"]) == (92_334, 304, 33)


def test_tables_validate(converted: Converted) -> None:
    dataset = validate({name: frame.lazy() for name, frame in converted.tables.items()})
    assert dataset.n_users == 2_438
    assert dataset.warnings == ()
    orders = dataset.orders
    # Read in New York time the small hours are quiet: 04:00 is the quietest hour.
    hours = orders.group_by("order_hour_of_day").len().sort("len")
    assert hours.get_column("order_hour_of_day")[0] == 4
    assert orders.get_column("days_since_prior_order").max() == 30


def test_truth_holds_the_test_baskets_only(converted: Converted) -> None:
    truth = converted.truth
    assert truth.height == 484
    assert truth.filter(pl.col("products") == "None").height == 112
    test_ids = truth.get_column("order_id")
    assert (
        not converted.tables["order_products__train"]
        .get_column("order_id")
        .is_in(test_ids.implode())
        .any()
    )


def test_cli_writes_the_same_tables(converted: Converted, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["datasets", "complete-journey", "--out", str(tmp_path), "--format", "parquet"]
    )
    assert result.exit_code == 0, result.output
    assert "users_single_order_dropped" in result.output
    dataset = load_dataset(tmp_path)
    assert dataset.orders.equals(converted.tables["orders"])  # same input → same output
    assert pl.read_csv(tmp_path / "truth.csv").height == 484
    assert not list(tmp_path.glob("id_map_*"))  # integer ids are kept: nothing to map back
