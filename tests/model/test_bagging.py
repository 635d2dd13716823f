"""Bagging: one member is today's model byte for byte; a bag's booster is its members' mean."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import xgboost as xgb

from basketcast.config import ConfigError
from basketcast.model import assign_folds, roc_auc, train_cv
from basketcast.model.bagging import average_boosters, member_seed
from basketcast.model.train import xgb_params
from tests.model._synth import fast_config, planted_frame


@pytest.fixture(scope="module")
def small() -> pl.DataFrame:
    return planted_frame(users=400, rows_per_order=10, seed=3)[0]


def _features(frame: pl.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith(("x_", "noise_"))]


def test_one_member_trains_exactly_the_unbagged_model(small: pl.DataFrame) -> None:
    # The training an unbagged run has always done, written out: fold 0's rows, the
    # run's seed, early stopping on the held-out depth-0 rows.
    config = fast_config(folds=3, train_folds=(0,))
    assert config.bagging == 1
    result = train_cv(small, config=config, threads=1)
    names = _features(small)
    fold = assign_folds(small["user_id"], folds=3, seed=0).to_numpy()
    labelled = small["label"].is_not_null().to_numpy()
    depth0 = (small["depth"] == 0).to_numpy()
    x = small.select(names).to_numpy().astype(np.float32)
    y = small["label"].fill_null(0).cast(pl.Float32).to_numpy()
    train, valid = labelled & (fold != 0), labelled & (fold == 0) & depth0
    dtrain = xgb.QuantileDMatrix(x[train], label=y[train], feature_names=names, nthread=1)
    dvalid = xgb.QuantileDMatrix(
        x[valid], label=y[valid], feature_names=names, ref=dtrain, nthread=1
    )
    reference = xgb.train(
        xgb_params(config.resolved(users=small["user_id"].n_unique()), threads=1),
        dtrain,
        num_boost_round=config.num_boost_round,
        evals=[(dvalid, "valid")],
        callbacks=[xgb.callback.EarlyStopping(rounds=config.early_stopping_rounds, save_best=True)],
        verbose_eval=False,
    )
    assert bytes(result.boosters[0].save_raw("ubj")) == bytes(reference.save_raw("ubj"))


def test_a_bag_is_the_mean_of_its_members_margins() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 4)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(size=2000) > 0).astype(np.float32)
    data = xgb.DMatrix(x, label=y)
    params = {"objective": "binary:logistic", "max_depth": 3, "subsample": 0.6, "nthread": 1}
    members = [
        xgb.train(params | {"seed": member_seed(7, m)}, data, num_boost_round=10 + 5 * m)
        for m in range(3)
    ]
    bag = average_boosters(members)
    margins = np.mean([m.predict(data, output_margin=True) for m in members], axis=0)
    np.testing.assert_allclose(bag.predict(data, output_margin=True), margins, atol=1e-5)
    assert bag.num_boosted_rounds() == 10 + 15 + 20
    # It survives the run folder's format.
    again = xgb.Booster(model_file=bytearray(bag.save_raw("ubj")))
    np.testing.assert_array_equal(again.predict(data), bag.predict(data))
    assert average_boosters(members[:1]) is members[0]


def test_member_seeds_are_derived_from_the_run_seed() -> None:
    assert member_seed(5, 0) == 5
    seeds = [member_seed(5, m) for m in range(10)]
    assert len(set(seeds)) == 10 and all(0 <= s < 2**31 for s in seeds)
    assert seeds == [member_seed(5, m) for m in range(10)]
    assert member_seed(6, 1) != member_seed(5, 1)


def test_bagged_cv_is_reproducible_and_as_good(small: pl.DataFrame) -> None:
    one = train_cv(small, config=fast_config(folds=3, train_folds=(0, 1)), threads=1)
    config = fast_config(folds=3, train_folds=(0, 1), bagging=3)
    three = train_cv(small, config=config, threads=1)
    again = train_cv(small, config=config, threads=1)
    assert three.oof.equals(again.oof) and three.test.equals(again.test)
    assert not np.array_equal(three.oof["p"].to_numpy(), one.oof["p"].to_numpy())
    assert three.auc >= one.auc - 0.01
    depth0 = three.oof.join(
        small.select("order_id", "product_id", "label"), on=["order_id", "product_id"]
    )
    depth0 = depth0.filter(pl.col("depth") == 0)
    assert roc_auc(depth0["label"], depth0["p"]) == pytest.approx(three.auc)
    # Each fold's booster holds all three members' trees.
    for fold, booster in three.boosters.items():
        assert booster.num_boosted_rounds() > one.boosters[fold].num_boosted_rounds()


def test_bagging_is_checked() -> None:
    with pytest.raises(ConfigError, match=r"model\.bagging"):
        fast_config(bagging=0)
