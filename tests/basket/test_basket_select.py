"""Batch basket selection: parity with the single-order maximiser, input checks, and the
planted-signal test that the maximiser beats every fixed threshold."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from basketcast.basket import best_basket, select_baskets
from basketcast.data.dataset import DataError
from basketcast.evaluate import mean_f1


def _random_probs(rng: np.random.Generator, n_orders: int, mean_n: float) -> pl.DataFrame:
    sizes = rng.poisson(mean_n, n_orders) + 1
    order_id = np.repeat(np.arange(n_orders) * 10 + 5, sizes)
    p = rng.beta(0.5, 2.5, sizes.sum())
    p[rng.random(p.size) < 0.05] = 0.0  # exact zeros and some ties
    p[rng.random(p.size) < 0.02] = 1.0
    return pl.DataFrame(
        {
            "order_id": order_id,
            "product_id": rng.integers(0, 10**6, sizes.sum()) * 1000 + np.arange(sizes.sum()),
            "p": p,
        }
    )


@pytest.mark.parametrize("with_p_none", [False, True])
def test_matches_single_order(with_p_none: bool) -> None:
    rng = np.random.default_rng(1)
    probs = _random_probs(rng, 150, 8).sample(fraction=1.0, shuffle=True, seed=3)
    p_none = None
    if with_p_none:
        ids = probs.get_column("order_id").unique().sort()
        p_none = pl.DataFrame({"order_id": ids, "p_none": rng.random(ids.len())})
    out = select_baskets(probs, p_none)
    assert out.columns == ["order_id", "products", "expected_f1"]
    assert out.get_column("order_id").is_sorted()
    for (order_id,), group in probs.group_by("order_id"):
        # the product order the batch uses: descending p, ties by product id
        group = group.sort(["p", "product_id"], descending=[True, False])
        pn = None if p_none is None else p_none.filter(pl.col("order_id") == order_id)["p_none"][0]
        choice = best_basket(group["p"].to_numpy(), pn)
        row = out.filter(pl.col("order_id") == order_id).row(0, named=True)
        tokens = [str(i) for i in group["product_id"].head(choice.k)]
        if choice.with_none:
            tokens.append("None")
        assert row["products"] == " ".join(tokens)
        assert row["expected_f1"] == pytest.approx(choice.expected_f1, abs=1e-12)


def test_independent_of_row_order() -> None:
    probs = _random_probs(np.random.default_rng(2), 50, 6)
    a = select_baskets(probs)
    b = select_baskets(probs.reverse())
    assert a.equals(b)


def test_strings_ties_and_none_only_orders() -> None:
    probs = pl.DataFrame(
        {"order_id": [1, 1, 1, 2], "product_id": [30, 10, 20, 5], "p": [0.9, 0.95, 0.9, 0.001]}
    )
    p_none = pl.DataFrame({"order_id": [1, 2, 3], "p_none": [0.0, 0.99, 0.4]})
    out = select_baskets(probs, p_none)
    assert out["order_id"].to_list() == [1, 2, 3]
    assert out["products"].to_list() == ["10 20 30", "None", "None"]
    # an order with no candidates scores exactly p_none
    assert out["expected_f1"][2] == pytest.approx(0.4)
    # with None added: "products ... None"
    with_none = select_baskets(
        pl.DataFrame({"order_id": [7], "product_id": [1], "p": [0.6]}),
        pl.DataFrame({"order_id": [7], "p_none": [0.5]}),
    )
    assert with_none["products"][0] == "1 None"


def test_empty_input() -> None:
    empty = pl.DataFrame(
        {"order_id": [], "product_id": [], "p": []},
        schema={"order_id": pl.Int64, "product_id": pl.Int64, "p": pl.Float64},
    )
    out = select_baskets(empty)
    assert out.height == 0
    assert out.schema == pl.Schema(
        {"order_id": pl.Int64, "products": pl.String, "expected_f1": pl.Float64}
    )


@pytest.mark.parametrize(
    ("probs", "p_none", "message"),
    [
        ({"order_id": [1], "product_id": [1]}, None, "missing column"),
        ({"order_id": [1], "product_id": [1], "p": [1.5]}, None, "in [0, 1]"),
        ({"order_id": [1], "product_id": [1], "p": [float("nan")]}, None, "in [0, 1]"),
        ({"order_id": [1, 1], "product_id": [1, 1], "p": [0.1, 0.2]}, None, "twice"),
        (
            {"order_id": [1, 2], "product_id": [1, 1], "p": [0.1, 0.2]},
            {"order_id": [1], "p_none": [0.1]},
            "no p_none",
        ),
        (
            {"order_id": [1], "product_id": [1], "p": [0.1]},
            {"order_id": [1, 1], "p_none": [0.1, 0.2]},
            "duplicate",
        ),
        (
            {"order_id": [1], "product_id": [1], "p": [0.1]},
            {"order_id": [1], "p_none": [-0.1]},
            "in [0, 1]",
        ),
    ],
)
def test_rejects_bad_input(probs: dict, p_none: dict | None, message: str) -> None:
    with pytest.raises(DataError, match=message.replace("[", r"\[").replace("]", r"\]")):
        select_baskets(pl.DataFrame(probs), None if p_none is None else pl.DataFrame(p_none))


# --- planted signal: the maximiser beats every fixed threshold ---------------------------


def _synthetic(
    seed: int, n_orders: int, *, p_none: np.ndarray | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Candidates with Beta probabilities and truths sampled from exactly that model."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 30, n_orders)
    order_id = np.repeat(np.arange(n_orders), sizes)
    p = rng.beta(0.4, 2.0, sizes.sum())
    hit = rng.random(p.size) < p
    if p_none is not None:
        # Truth None with probability p_none; otherwise items conditioned on at least one:
        # draw the first present item from its exact law, the later ones independently.
        starts = np.repeat(np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes)
        pos = np.arange(p.size) - starts
        log_absent = np.cumsum(np.log1p(-p))
        log_absent -= np.repeat(log_absent[starts[pos == 0]] - np.log1p(-p[pos == 0]), sizes)
        f = -np.expm1(log_absent)  # P(some item up to here is present)
        u = rng.random(n_orders) * f[np.cumsum(sizes) - 1]
        first = np.minimum.reduceat(
            np.where(f >= np.repeat(u, sizes), pos, 1 << 30), starts[pos == 0]
        )
        first = np.repeat(first, sizes)
        hit = (pos == first) | ((pos > first) & hit)
        hit &= ~np.repeat(rng.random(n_orders) < p_none, sizes)
    probs = pl.DataFrame({"order_id": order_id, "product_id": np.arange(p.size), "p": p})
    truth = (
        probs.filter(pl.Series(hit))
        .group_by("order_id")
        .agg(pl.col("product_id").cast(pl.String).str.join(" ").alias("products"))
    )
    truth = (
        pl.DataFrame({"order_id": np.arange(n_orders)})
        .join(truth, on="order_id", how="left")
        .with_columns(pl.col("products").fill_null("None"))
    )
    return probs, truth


def _threshold_baskets(probs: pl.DataFrame, t: float) -> pl.DataFrame:
    chosen = (
        probs.filter(pl.col("p") >= t)
        .group_by("order_id")
        .agg(pl.col("product_id").cast(pl.String).str.join(" ").alias("products"))
    )
    return (
        probs.select("order_id")
        .unique()
        .join(chosen, on="order_id", how="left")
        .with_columns(pl.col("products").fill_null("None"))
    )


@pytest.mark.parametrize("separate_none", [False, True])
def test_maximiser_beats_every_threshold(separate_none: bool) -> None:
    n_orders = 10_000
    p_none = np.random.default_rng(9).beta(1, 4, n_orders) if separate_none else None
    probs, truth = _synthetic(11, n_orders, p_none=p_none)
    p_none_frame = (
        None
        if p_none is None
        else pl.DataFrame({"order_id": np.arange(n_orders), "p_none": p_none})
    )
    baskets = select_baskets(probs, p_none_frame)
    ours = mean_f1(baskets.select("order_id", "products"), truth)
    best_threshold = max(
        mean_f1(_threshold_baskets(probs, t), truth) for t in np.arange(0.05, 1.0, 0.05)
    )
    assert ours > best_threshold + 0.005
    # and the model's own forecast of its score is calibrated
    assert ours == pytest.approx(baskets["expected_f1"].mean(), abs=0.01)
