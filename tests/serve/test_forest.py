"""`CompiledForest` gives XGBoost's own probabilities, bit for bit, or declines to answer."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb

from basketcast.serve.forest import _DEFAULT_LEFT, CompiledForest, _probe


def _planted(seed: int, rows: int = 3000, features: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """A label from a few features, with missing values in the informative ones (both ways)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features)).astype(np.float32)
    x[:, 3] = np.round(x[:, 3] * 4) / 4  # ties: many rows sit exactly on a threshold
    logit = 1.5 * x[:, 0] - x[:, 1] + 0.8 * (x[:, 2] > 0.3) + 0.5 * x[:, 3]
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    x[rng.random(rows) < 0.2, 0] = np.nan
    x[(rng.random(rows) < 0.3) & (y == 1), 1] = np.nan  # missing means something here
    return x, y


def _booster(seed: int, depth: int, rounds: int = 40, **params: object) -> xgb.Booster:
    x, y = _planted(seed)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": depth, "eta": 0.3, "seed": seed,
         "subsample": 0.8, "nthread": 1, **params},
        xgb.DMatrix(x, label=y, missing=np.nan),
        num_boost_round=rounds,
    )  # fmt: skip
    booster.set_param({"nthread": 1})
    return booster


@pytest.mark.parametrize(("seed", "depth"), [(0, 1), (1, 3), (2, 6), (3, 10)])
def test_probabilities_equal_xgboost_bit_for_bit(seed: int, depth: int) -> None:
    booster = _booster(seed, depth)
    forest = CompiledForest.of(booster)
    assert forest is not None
    x, _ = _planted(seed + 100)  # other rows than the training ones
    rng = np.random.default_rng(seed)
    x[rng.random(x.shape) < 0.05] = np.nan  # missing everywhere, also in unused features
    for rows in (x, x[:1], x[:7], _probe(forest, rng)):
        expected = booster.inplace_predict(rows, missing=np.nan)
        got = forest.predict(rows)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, expected)


def test_base_score_and_a_tree_free_booster_agree() -> None:
    """boost_from_average sets a base score that is not 0.5; a one-leaf tree adds nothing."""
    x, y = _planted(5)
    y[:] = 0
    y[:30] = 1  # a rare positive: the base score is far from 0.5
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 2, "min_child_weight": 1e6, "nthread": 1},
        xgb.DMatrix(x, label=y),
        num_boost_round=3,
    )
    forest = CompiledForest.of(booster)
    assert forest is not None
    assert forest.nodes.shape[0] == 3  # three trees, each one leaf
    np.testing.assert_array_equal(forest.predict(x), booster.inplace_predict(x, missing=np.nan))


def test_boosters_it_does_not_cover_are_declined() -> None:
    x, y = _planted(6)
    regression = xgb.train(
        {"objective": "reg:squarederror", "nthread": 1}, xgb.DMatrix(x, label=y), 5
    )
    labels = np.floor(np.abs(np.nan_to_num(x[:, 2])) * 2).clip(0, 2)
    multiclass = xgb.train(
        {"objective": "multi:softprob", "num_class": 3, "nthread": 1},
        xgb.DMatrix(x, label=labels),
        5,
    )
    codes = np.floor(np.abs(np.nan_to_num(x[:, :2])) * 3).clip(0, 5)
    categorical = xgb.train(
        {"objective": "binary:logistic", "nthread": 1, "max_cat_to_onehot": 1},
        xgb.DMatrix(codes, label=y, feature_types=["c", "q"], enable_categorical=True),
        5,
    )
    dart = xgb.train(
        {"objective": "binary:logistic", "booster": "dart", "rate_drop": 0.3, "nthread": 1},
        xgb.DMatrix(x, label=y),
        5,
    )
    for booster in (regression, multiclass, categorical, dart):
        assert CompiledForest.of(booster) is None


def test_the_probe_catches_a_forest_that_walks_differently() -> None:
    """The load-time check is what keeps a wrong walk from serving: flip one default direction."""
    booster = _booster(7, depth=4)
    forest = CompiledForest.of(booster)
    assert forest is not None
    assert forest._agrees_with(booster)
    root_of_first_tree = 0
    forest.nodes[root_of_first_tree, 2] ^= _DEFAULT_LEFT
    assert not forest._agrees_with(booster)


def test_a_matrix_of_the_wrong_width_is_refused() -> None:
    forest = CompiledForest.of(_booster(8, depth=2, rounds=3))
    assert forest is not None
    with pytest.raises(ValueError, match="12 columns"):
        forest.predict(np.zeros((2, 11), dtype=np.float32))
