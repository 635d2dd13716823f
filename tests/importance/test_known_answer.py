"""Known answers on a planted truth: label ~ sigmoid(-1 + 2 driver + weak), a near-copy of
the driver in its own family, and a family of pure noise."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from basketcast.importance import (
    LofoImportanceEvaluator,
    RunArtifacts,
    ShapImportanceEvaluator,
    get_importances,
)
from basketcast.importance._shap import fold_contributions
from tests.importance._planted import COPY, DRIVER, NOISE, WEAK


@pytest.fixture(scope="module")
def lofo(planted: RunArtifacts):
    evaluator = LofoImportanceEvaluator(together=[("driver", "copy")], budget=0, threads=1)
    return get_importances(planted, evaluator=evaluator, by="family")


def test_shap_ranks_the_planted_drivers_first_and_noise_last(planted: RunArtifacts) -> None:
    result = get_importances(planted, evaluator=ShapImportanceEvaluator(rows=4000))
    order = result.table.get_column("name").to_list()
    assert set(order[:3]) == {DRIVER, WEAK, COPY}
    assert set(order[3:]) == set(NOISE)
    noise = result.table.filter(pl.col("name").is_in(NOISE)).get_column("importance")
    assert noise.max() < 0.1 * result.table.row(2, named=True)["importance"]


def test_shap_sums_to_the_margin(planted: RunArtifacts) -> None:
    result = get_importances(planted, evaluator=ShapImportanceEvaluator(rows=3000, seed=4))
    assert result.settings["max_sum_error"] <= 1e-4
    # Directly, for one fold model on its own held-out rows.
    rows = planted.labelled_rows(depth0=True).filter(pl.col("fold") == 1)
    matrix = rows.select(planted.feature_names).to_numpy().astype(np.float32)
    contributions, margin = fold_contributions(planted.boosters[1], matrix, planted.feature_names)
    assert contributions.shape == (rows.height, len(planted.feature_names) + 1)
    np.testing.assert_allclose(contributions.sum(axis=1), margin, atol=1e-4, rtol=0)
    p = planted.boosters[1].inplace_predict(matrix)
    np.testing.assert_allclose(1 / (1 + np.exp(-margin)), p, atol=1e-5)


def test_shap_of_a_family_is_the_sum_of_its_features(planted: RunArtifacts) -> None:
    evaluator = ShapImportanceEvaluator(rows=2000, seed=1)
    features = get_importances(planted, evaluator=evaluator, by="feature").table
    families = get_importances(planted, evaluator=evaluator, by="family").table
    noise_sum = features.filter(pl.col("name").is_in(NOISE)).get_column("mean_shap").sum()
    noise = families.filter(pl.col("name") == "noise").row(0, named=True)
    assert noise["mean_shap"] == pytest.approx(noise_sum, abs=1e-6)
    # |sum| <= sum of |.|: mean |SHAP| of a family never exceeds its features' total.
    total = features.filter(pl.col("name").is_in(NOISE)).get_column("importance").sum()
    assert noise["importance"] <= total + 1e-9


def test_lofo_ranks_the_driver_and_its_copy_together_first(lofo) -> None:
    table = lofo.table
    assert table.row(0, named=True)["name"] == "driver + copy"
    joint = table.row(0, named=True)
    assert joint["low"] > 0.05  # a real loss, with its whole interval above 0
    for alone in ("driver", "copy"):
        row = table.filter(pl.col("name") == alone).row(0, named=True)
        # Alone, each is near 0: the other stands in for it.
        assert abs(row["importance"]) < 0.05 * joint["importance"]
    weak = table.filter(pl.col("name") == "weak").row(0, named=True)
    assert weak["low"] > 0
    assert weak["f1_drop"] > 0 and joint["f1_drop"] > weak["f1_drop"]


def test_lofo_finds_noise_useless(lofo) -> None:
    noise = lofo.table.filter(pl.col("name") == "noise").row(0, named=True)
    assert noise["low"] <= 0  # <= 0 within its interval
    assert noise["importance"] < 0.01


def test_lofo_explains_stand_ins_and_negative_importance(lofo) -> None:
    text = " ".join(lofo.notes)
    assert "stands in" in text
    assert f"{DRIVER} and {COPY} are correlated" in text
    hurting = lofo.table.filter(pl.col("high") < 0).get_column("name").to_list()
    for name in hurting:
        assert f"better without {name}" in text or name in text
    assert lofo.settings["models_trained"] == 6  # baseline + 4 families + the pair
    assert lofo.settings["users"] == 1000
