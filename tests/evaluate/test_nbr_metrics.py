"""Recall@k and NDCG@k, overall and split into repeat / explore items, against hand-computed values."""

from __future__ import annotations

import math

import polars as pl
import pytest

from basketcast.evaluate.nbr_metrics import nbr_metrics, per_order_nbr_metrics


def _pairs(rows: dict[int, list[int]]) -> pl.DataFrame:
    return pl.DataFrame(
        [(o, p) for o, items in rows.items() for p in items],
        schema={"order_id": pl.Int64, "product_id": pl.Int64},
        orient="row",
    )


@pytest.fixture
def case() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Order 1: T = {1, 2, 3}, H = {1, 2, 5} (T_rep = {1, 2}, T_expl = {3}); list 5 1 3 7 2.
    Order 2: T = {4} (a repeat), no ranked item. Order 3: ranked, but no truth (not evaluated)."""
    ranking = pl.DataFrame(
        {
            "order_id": [1, 1, 1, 1, 1, 3],
            "product_id": [2, 7, 3, 1, 5, 9],
            "score": [1.0, 2.0, 3.0, 4.0, 5.0, 1.0],
        }
    )
    return ranking, _pairs({1: [1, 2, 3], 2: [4]}), _pairs({1: [1, 2, 5], 2: [4], 3: [9]})


def test_hand_computed_values(case) -> None:
    ranking, truth, history = case
    rows = per_order_nbr_metrics(ranking, truth, history, ks=(2, 4))
    one = rows.filter(pl.col("order_id") == 1).row(0, named=True)
    g2, g3 = 1 / math.log2(3), 1 / math.log2(4)  # gains at ranks 2 and 3
    assert (one["n_all"], one["n_rep"], one["n_expl"]) == (3, 2, 1)
    # top 2 = [5, 1]: one hit (1, a repeat item) at rank 2
    assert one["recall_all@2"] == pytest.approx(1 / 3)
    assert one["ndcg_all@2"] == pytest.approx(g2 / (1 + g2))
    assert one["recall_rep@2"] == pytest.approx(1 / 2)
    assert one["ndcg_rep@2"] == pytest.approx(g2 / (1 + g2))
    assert one["recall_expl@2"] == 0.0 and one["ndcg_expl@2"] == 0.0
    # top 4 = [5, 1, 3, 7]: hits 1 (rank 2, repeat) and 3 (rank 3, explore)
    assert one["recall_all@4"] == pytest.approx(2 / 3)
    assert one["ndcg_all@4"] == pytest.approx((g2 + g3) / (1 + g2 + g3))
    assert one["recall_rep@4"] == pytest.approx(1 / 2)
    assert one["recall_expl@4"] == pytest.approx(1.0)
    assert one["ndcg_expl@4"] == pytest.approx(g3 / 1.0)
    two = rows.filter(pl.col("order_id") == 2).row(0, named=True)
    assert two["recall_all@4"] == 0.0 and two["ndcg_rep@4"] == 0.0
    assert two["recall_expl@4"] is None  # no explore item: no explore figure
    assert rows.get_column("order_id").to_list() == [1, 2]  # order 3 has no truth


def test_means_skip_empty_parts(case) -> None:
    ranking, truth, history = case
    out = nbr_metrics(ranking, truth, history, ks=(2, 4))
    assert (out["orders"], out["orders_rep"], out["orders_expl"]) == (2, 2, 1)
    assert out["recall_all@2"] == pytest.approx((1 / 3 + 0) / 2)
    assert out["recall_rep@4"] == pytest.approx((1 / 2 + 0) / 2)
    assert out["recall_expl@4"] == pytest.approx(1.0)  # order 1 only


def test_ties_break_by_product_id_and_k_must_be_positive(case) -> None:
    _, truth, history = case
    tied = pl.DataFrame({"order_id": [1, 1], "product_id": [9, 3], "score": [1.0, 1.0]})
    rows = per_order_nbr_metrics(tied, truth, history, ks=(1,))
    assert rows.row(0, named=True)["recall_expl@1"] == 1.0  # 3 ranks before 9
    with pytest.raises(ValueError, match="positive"):
        per_order_nbr_metrics(tied, truth, history, ks=(0,))
