"""The synthetic generator: Instacart's shape, determinism, and the planted probability honoured."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from basketcast.data.load import load_dataset
from basketcast.data.schema import TABLES
from basketcast.data.sources.synthetic import (
    DEPARTMENT_OFFSETS,
    N_AISLES,
    N_DEPARTMENTS,
    N_PRODUCTS,
    PLANTED,
    SyntheticData,
    _n_test_users,
    synthetic,
    write_synthetic,
)
from basketcast.data.validate import validate

USERS = 3_000


@pytest.fixture(scope="module")
def data() -> SyntheticData:
    return synthetic(USERS, seed=0)


def _assert_same(a: SyntheticData, b: SyntheticData) -> None:
    for name, frame in a.tables.items():
        assert frame.equals(b.tables[name]), name
    assert a.truth.equals(b.truth)
    assert a.true_probs.equals(b.true_probs)


def _candidates(data: SyntheticData) -> pl.DataFrame:
    """Every (target order, product the user bought before), computed from the tables."""
    orders = data.tables["orders"]
    bought = (
        data.tables["order_products__prior"]
        .join(orders.select("order_id", "user_id"), on="order_id")
        .select("user_id", "product_id")
        .unique()
    )
    targets = orders.filter(pl.col("eval_set") != "prior").select("order_id", "user_id")
    return targets.join(bought, on="user_id")


def _hits(data: SyntheticData) -> pl.DataFrame:
    """The true_probs rows with hit = the product is in the target order's truth."""
    pairs = [
        (order_id, int(token))
        for order_id, products in data.truth.iter_rows()
        if products != "None"
        for token in products.split(" ")
    ]
    truth = pl.DataFrame(
        pairs, schema={"order_id": pl.Int64, "product_id": pl.Int64}, orient="row"
    ).with_columns(hit=pl.lit(1))
    return data.true_probs.join(truth, on=["order_id", "product_id"], how="left").with_columns(
        pl.col("hit").fill_null(0)
    )


# --- layout -----------------------------------------------------------------------------------
def test_tables_have_the_schema(data: SyntheticData) -> None:
    assert set(data.tables) == set(TABLES)
    for name, frame in data.tables.items():
        assert dict(frame.schema) == TABLES[name].columns, name
    assert data.truth.columns == ["order_id", "products"]
    assert dict(data.true_probs.schema) == {
        "order_id": pl.Int64,
        "user_id": pl.Int64,
        "product_id": pl.Int64,
        "p_true": pl.Float64,
    }


def test_passes_validate(data: SyntheticData) -> None:
    dataset = validate({name: frame.lazy() for name, frame in data.tables.items()})
    assert dataset.n_users == USERS
    assert dataset.warnings == ()  # `reordered` agrees with the history


def test_catalogue(data: SyntheticData) -> None:
    products = data.tables["products"]
    assert products.get_column("product_id").to_list() == list(range(1, N_PRODUCTS + 1))
    assert data.tables["aisles"].height == N_AISLES
    assert data.tables["departments"].height == N_DEPARTMENTS
    # Each aisle in exactly one department, every aisle and department used.
    per_aisle = products.group_by("aisle_id").agg(pl.col("department_id").n_unique())
    assert per_aisle.height == N_AISLES
    assert per_aisle.get_column("department_id").max() == 1
    assert products.get_column("department_id").n_unique() == N_DEPARTMENTS
    # Zipf-like: the top product holds ~1 % of lines, the top 1 % of products a large share.
    counts = data.tables["order_products__prior"].get_column("product_id").value_counts(sort=True)
    share = counts.get_column("count") / counts.get_column("count").sum()
    assert 0.003 < share[0] < 0.05
    assert share[: N_PRODUCTS // 100].sum() > 0.3


# --- Instacart's shape ----------------------------------------------------------------------
def test_orders_per_user_and_split(data: SyntheticData) -> None:
    orders = data.tables["orders"]
    per_user = orders.group_by("user_id").len().get_column("len")
    assert per_user.min() >= 4 and per_user.max() <= 100
    assert 8 <= per_user.median() <= 12  # type: ignore[operator]
    assert (per_user == 100).sum() > 0  # the cap spike
    assert sorted(orders.get_column("user_id").unique()) == list(range(1, USERS + 1))
    assert orders.get_column("order_id").n_unique() == orders.height
    sets = orders.get_column("eval_set").value_counts()
    counts = dict(zip(sets.get_column("eval_set"), sets.get_column("count"), strict=True))
    assert counts["test"] == _n_test_users(USERS) == round(USERS * 75_000 / 206_209)
    assert counts["train"] + counts["test"] == USERS
    assert abs(counts["train"] / USERS - 0.636) < 0.005
    assert _n_test_users(206_209) == 75_000


def test_baskets_and_reorders(data: SyntheticData) -> None:
    orders, prior = data.tables["orders"], data.tables["order_products__prior"]
    n_prior = orders.filter(pl.col("eval_set") == "prior").height
    assert prior.get_column("order_id").n_unique() == n_prior  # no empty order
    assert 8 <= prior.height / n_prior <= 12
    assert 0.55 <= prior.get_column("reordered").mean() <= 0.63  # type: ignore[operator]
    train = data.tables["order_products__train"]
    assert (
        train.get_column("order_id").n_unique() == (orders.get_column("eval_set") == "train").sum()
    )


def test_add_to_cart_order_lists_reorders_first(data: SyntheticData) -> None:
    lines = pl.concat([data.tables["order_products__prior"], data.tables["order_products__train"]])
    carts = lines.group_by("order_id").agg(
        n=pl.len(),
        sorted=pl.col("add_to_cart_order").sort(),
        last_re=pl.col("add_to_cart_order").filter(pl.col("reordered") == 1).max(),
        first_new=pl.col("add_to_cart_order").filter(pl.col("reordered") == 0).min(),
    )
    for n, cart in zip(carts.get_column("n"), carts.get_column("sorted"), strict=True):
        assert cart.to_list() == list(range(1, n + 1))
    both = carts.drop_nulls(["last_re", "first_new"])
    assert (both.get_column("last_re") < both.get_column("first_new")).all()


def test_days_dow_hour(data: SyntheticData) -> None:
    orders = data.tables["orders"]
    days = orders.get_column("days_since_prior_order")
    first = orders.get_column("order_number") == 1
    assert days.filter(first).null_count() == first.sum()
    later = days.filter(~first)
    assert later.null_count() == 0
    assert (later == later.round()).all() and later.min() >= 0 and later.max() == 30
    counts = later.value_counts().sort("count", descending=True)
    assert counts.item(0, "days_since_prior_order") == 30
    below = counts.filter(pl.col("days_since_prior_order") < 30)
    assert below.item(0, "days_since_prior_order") == 7
    dow = orders.get_column("order_dow").value_counts().sort("count", descending=True)
    assert set(dow.get_column("order_dow").head(2)) == {0, 1}
    hour = orders.get_column("order_hour_of_day")
    assert hour.is_between(8, 18).mean() > 0.7  # type: ignore[operator]


# --- determinism ----------------------------------------------------------------------------
def test_same_seed_same_data_other_seed_other_data() -> None:
    a, b = synthetic(200, seed=5), synthetic(200, seed=5)
    _assert_same(a, b)
    c = synthetic(200, seed=6)
    assert not a.tables["order_products__prior"].equals(c.tables["order_products__prior"])
    assert not a.true_probs.equals(c.true_probs)


def test_threads_do_not_change_the_output(data: SyntheticData) -> None:
    _assert_same(data, synthetic(USERS, seed=0, threads=1))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="users"):
        synthetic(0, seed=0)
    with pytest.raises(ValueError, match="seed"):
        synthetic(10, seed=-1)


# --- the answer key -------------------------------------------------------------------------
def test_true_probs_cover_exactly_the_candidates(data: SyntheticData) -> None:
    expected = _candidates(data).sort("order_id", "product_id")
    got = data.true_probs.select("order_id", "user_id", "product_id").sort("order_id", "product_id")
    assert got.equals(expected)
    p = data.true_probs.get_column("p_true")
    assert (p > 0).all() and (p < 1).all()


def test_truth_is_the_target_reorders(data: SyntheticData) -> None:
    orders = data.tables["orders"]
    targets = orders.filter(pl.col("eval_set") != "prior")
    assert sorted(data.truth.get_column("order_id")) == sorted(targets.get_column("order_id"))
    train_truth = (
        data.tables["order_products__train"]
        .filter(pl.col("reordered") == 1)
        .group_by("order_id")
        .agg(pl.col("product_id").sort().cast(pl.String).str.join(" "))
    )
    train_ids = targets.filter(pl.col("eval_set") == "train").select("order_id")
    expected = (
        train_ids.join(train_truth, on="order_id", how="left")
        .select("order_id", products=pl.col("product_id").fill_null("None"))
        .sort("order_id")
    )
    got = data.truth.join(train_ids, on="order_id", how="semi").sort("order_id")
    assert got.equals(expected)
    # Test targets' truth names candidates only, and some test orders are "None".
    hits = _hits(data)
    n_tokens = data.truth.filter(pl.col("products") != "None").get_column("products").str.split(" ")
    assert hits.get_column("hit").sum() == n_tokens.list.len().sum()
    assert 0.02 < (data.truth.get_column("products") == "None").mean() < 0.12  # type: ignore[operator]


def test_generator_is_calibrated(data: SyntheticData) -> None:
    """Known answer: within bins of p_true, the hit rate is p_true (each draw is Bernoulli(p))."""
    hits = _hits(data).with_columns(
        bin=pl.col("p_true").qcut(10, labels=[str(i) for i in range(10)])
    )
    table = hits.group_by("bin").agg(
        p=pl.col("p_true").mean(), rate=pl.col("hit").mean(), n=pl.len()
    )
    for p, rate, n in table.select("p", "rate", "n").iter_rows():
        se = math.sqrt(p * (1 - p) / n)
        assert abs(rate - p) < 4 * se + 0.005, (p, rate, n)
    # The planted signal is strong: p_true ranks the hits well (AUC ≫ 0.5).
    ranks = hits.get_column("p_true").rank()
    is_hit = hits.get_column("hit") == 1
    n1, n0 = is_hit.sum(), (~is_hit).sum()
    auc = (ranks.filter(is_hit).sum() - n1 * (n1 + 1) / 2) / (n1 * n0)
    assert auc > 0.8


def _planted_p_in_python(data: SyntheticData, user_id: int) -> dict[int, float]:
    """p_true of one user's target candidates, recomputed from the tables by the documented formula."""
    orders = (
        data.tables["orders"].filter(pl.col("user_id") == user_id).sort("order_number").to_dicts()
    )
    lines = data.tables["order_products__prior"].filter(
        pl.col("order_id").is_in([o["order_id"] for o in orders])
    )
    basket: dict[int, list[int]] = defaultdict(list)
    for order_id, product_id in lines.select("order_id", "product_id").iter_rows():
        basket[order_id].append(product_id)
    dept = dict(data.tables["products"].select("product_id", "department_id").iter_rows())
    count: dict[int, int] = {}
    last: dict[int, int] = {}
    reordered_lines = all_lines = 0
    big_t = len(orders)
    for t, order in enumerate(orders[:-1], start=1):
        if t >= 2:
            reordered_lines += sum(j in count for j in basket[order["order_id"]])
            all_lines += len(basket[order["order_id"]])
        for j in basket[order["order_id"]]:
            count[j] = count.get(j, 0) + 1
            last[j] = t
    rho = reordered_lines / all_lines if all_lines else 0.5
    gap = orders[-1]["days_since_prior_order"]
    m = PLANTED
    out = {}
    for j in count:
        r = big_t - last[j]
        z = (
            m.b0
            + m.b_share * count[j] / (big_t - 1)
            + m.b_last * (r == 1)
            - m.b_rec * math.log(r)
            + DEPARTMENT_OFFSETS[dept[j] - 1]
            + m.b_gap * (gap / 30 - 0.5)
            + m.b_user * (rho - 0.5)
        )
        out[j] = 1 / (1 + math.exp(-z))
    return out


def test_p_true_is_the_documented_function_of_the_history(data: SyntheticData) -> None:
    per_user = data.tables["orders"].group_by("user_id").len()
    heavy = per_user.sort("len", descending=True).get_column("user_id").head(2).to_list()
    light = per_user.filter(pl.col("len") == 4).get_column("user_id").head(2).to_list()
    for user_id in [*heavy, *light, 1, 2, 3]:
        expected = _planted_p_in_python(data, user_id)
        rows = data.true_probs.filter(pl.col("user_id") == user_id)
        got = dict(rows.select("product_id", "p_true").iter_rows())
        assert got.keys() == expected.keys()
        np.testing.assert_allclose(
            [got[j] for j in expected], list(expected.values()), rtol=0, atol=1e-9
        )


# --- small cases, written files, the command --------------------------------------------------
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(users=st.integers(1, 40), seed=st.integers(0, 2**32))
def test_small_histories_are_valid(users: int, seed: int) -> None:
    data = synthetic(users, seed=seed)
    dataset = validate({name: frame.lazy() for name, frame in data.tables.items()})
    assert dataset.n_users == users and dataset.warnings == ()
    got = data.true_probs.select("order_id", "user_id", "product_id").sort("order_id", "product_id")
    assert got.equals(_candidates(data).sort("order_id", "product_id"))


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_write_synthetic(tmp_path: Path, fmt: str) -> None:
    data = synthetic(60, seed=3)
    out = write_synthetic(data, tmp_path / "synth", format=fmt)  # type: ignore[arg-type]
    names = {p.name for p in out.iterdir()}
    assert names == {f"{t}.{fmt}" for t in TABLES} | {"truth.csv", "true_probs.parquet"}
    test_ids = data.tables["orders"].filter(pl.col("eval_set") == "test").get_column("order_id")
    truth = pl.read_csv(out / "truth.csv", schema_overrides={"products": pl.String})
    assert sorted(truth.get_column("order_id")) == sorted(test_ids)
    assert pl.read_parquet(out / "true_probs.parquet").equals(data.true_probs)
    dataset = load_dataset(out)
    assert dataset.orders.sort("order_id").equals(data.tables["orders"].sort("order_id"))


def test_synth_command(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from basketcast.cli import app

    runner = CliRunner()
    out = tmp_path / "synth"
    result = runner.invoke(
        app, ["synth", "--users", "30", "--seed", "4", "--out", str(out), "--format", "parquet"]
    )
    assert result.exit_code == 0, result.output
    assert (out / "orders.parquet").exists() and (out / "truth.csv").exists()
    orders = pl.read_parquet(out / "orders.parquet")
    assert orders.equals(synthetic(30, seed=4).tables["orders"])
    bad = runner.invoke(app, ["synth", "--users", "0", "--seed", "4", "--out", str(out)])
    assert bad.exit_code == 2
