"""Rankings → baskets (top-k and calibrated), and the frequency rankings, on known answers."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from basketcast.evaluate import mean_f1, truth_from_dataset
from basketcast.evaluate.ranking import gp_topfreq, item_popularity, p_topfreq
from basketcast.evaluate.targets import _targets
from basketcast.evaluate.to_baskets import (
    calibrated_baskets,
    fit_calibrator,
    top_k_baskets,
    top_k_f1,
    tune_top_k,
)


def test_p_topfreq_counts_then_recency(dataset) -> None:
    # user 1 before order 14 (target number 4): 1 in 3 orders (last 3), 2 in 2 (last 3),
    # 3 in 1 (last 2), 4 in 1 (last 3): 4 ranks above 3, bought more recently
    scores = dict(
        p_topfreq(dataset).filter(pl.col("order_id") == 14).select("product_id", "score").rows()
    )
    assert scores == pytest.approx({1: 3 + 3 / 4, 2: 2 + 3 / 4, 3: 1 + 2 / 4, 4: 1 + 3 / 4})
    assert p_topfreq(dataset).filter(pl.col("order_id") == 42).is_empty()  # no history


def test_gp_topfreq_fills_with_popular_unbought_items(dataset) -> None:
    popular = item_popularity(dataset)
    assert popular.row(0) == (1, pytest.approx(3 / 6))  # product 1: 3 of the 6 prior orders
    ranked = gp_topfreq(dataset, depth=2).filter(pl.col("order_id") == 42)
    assert ranked.sort("score", descending=True).get_column("product_id").to_list() == [1, 2]
    user_3 = gp_topfreq(dataset, depth=2).filter(pl.col("order_id") == 33)
    by_score = user_3.sort("score", descending=True).get_column("product_id").to_list()
    assert by_score[:2] == [8, 9] and by_score[2:] == [1, 2]  # own items, then popular
    with pytest.raises(ValueError, match="depth"):
        gp_topfreq(dataset, depth=-1)


def test_top_k_f1_equals_scoring_each_basket(synthetic_dataset) -> None:
    truth = truth_from_dataset(synthetic_dataset)
    scores = p_topfreq(synthetic_dataset)
    targets = _targets(synthetic_dataset, "train")
    ks = (1, 2, 3, 5, 8, 40)
    curve = top_k_f1(scores, truth, ks=ks)
    for k, value in zip(ks, curve, strict=True):
        baskets = top_k_baskets(scores, targets, k)
        assert value == pytest.approx(mean_f1(baskets, truth))
    assert tune_top_k(scores, truth, ks=ks) == ks[int(np.argmax(curve))]


def test_top_k_baskets_known(dataset) -> None:
    targets = _targets(dataset, None)
    baskets = dict(top_k_baskets(p_topfreq(dataset), targets, 2).rows())
    assert baskets == {14: "1 2", 22: "6", 33: "8 9", 42: "None"}


def test_isotonic_calibration_known_answer() -> None:
    # score 1: hits 0 and 1; score 2: miss; score 3: hit -> PAV pools 1 and 2 to 1/3
    scores = pl.DataFrame(
        {"order_id": [1, 2, 3, 4], "product_id": [5, 5, 6, 7], "score": [1.0, 1.0, 2.0, 3.0]}
    )
    truth = pl.DataFrame({"order_id": [1, 2, 3, 4], "products": ["None", "5", "None", "7"]})
    calibrator = fit_calibrator(scores, truth)
    np.testing.assert_allclose(calibrator(np.array([1.0, 2.0, 3.0, 9.0])), [1 / 3, 1 / 3, 1, 1])
    baskets = dict(calibrated_baskets(scores, truth.select("order_id"), calibrator).rows())
    assert baskets[4] == "7"  # p = 1: chosen, and None is then impossible
