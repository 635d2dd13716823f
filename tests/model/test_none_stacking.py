"""The stacked None model's inputs, the p(None) sources, and `auto`'s choice by out-of-fold F1."""

from __future__ import annotations

import json
import tomllib

import numpy as np
import polars as pl
import pytest

from basketcast.basket.p_none import p_none_values
from basketcast.config import BasketConfig, ConfigError, PNone, RunConfig, load_config
from basketcast.model.p_none import choose_p_none
from basketcast.model.predict import load_manifest
from basketcast.model.stacking import STACK_COLUMNS, item_summaries, stack_orders


def test_item_summaries_known_answer():
    item_p = pl.DataFrame({"order_id": [1, 1, 1, 2], "p": [0.5, 0.2, 0.9, 0.1]})
    got = item_summaries(item_p).sort("order_id")
    assert list(got.columns) == ["order_id", *STACK_COLUMNS]
    one = got.row(0, named=True)
    assert one["s_p_sum"] == pytest.approx(1.6)
    assert one["s_p_max"] == pytest.approx(0.9)
    assert one["s_p_mean"] == pytest.approx(1.6 / 3)
    assert one["s_p_none_indep"] == pytest.approx(0.5 * 0.8 * 0.1, rel=1e-6)
    assert one["s_p_above_half"] == 2.0
    two = got.row(1, named=True)
    assert (two["s_p_sum"], two["s_p_none_indep"], two["s_p_above_half"]) == pytest.approx(
        (0.1, 0.9, 0.0)
    )


def test_stack_orders_keeps_row_order_and_leaves_orders_without_p_missing():
    orders = pl.DataFrame({"order_id": [3, 1, 2], "user_id": [7, 8, 9], "f": [0.0, 1.0, 2.0]})
    item_p = pl.DataFrame({"order_id": [1, 3, 3], "p": [0.4, 0.5, 0.5]})
    got = stack_orders(orders, item_p)
    assert got["order_id"].to_list() == [3, 1, 2]
    assert got["s_p_sum"].to_list() == pytest.approx([1.0, 0.4, None])  # type: ignore[list-item]
    assert got["s_p_sum"][2] is None


def _items() -> pl.DataFrame:
    return pl.DataFrame({"order_id": [1, 1, 2], "product_id": [10, 11, 20], "p": [0.5, 0.5, 0.2]})


def test_p_none_sources():
    items = _items()
    none = pl.DataFrame({"order_id": [1, 2], "p_none": [0.05, 0.9]})
    assert p_none_values(items, none, PNone.INDEPENDENT) is None
    assert p_none_values(items, None, PNone.BLEND) is None  # no None model: independence
    assert p_none_values(items, none, PNone.MODEL) is none
    blend = p_none_values(items, none, PNone.BLEND)
    assert blend is not None
    got = dict(zip(*blend.sort("order_id").get_columns(), strict=True))
    assert got[1] == pytest.approx((0.05 + 0.25) / 2)
    assert got[2] == pytest.approx((0.9 + 0.8) / 2)
    with pytest.raises(ValueError, match="concrete"):
        p_none_values(items, none, PNone.AUTO)


def _planted(n: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Orders whose truth is None exactly when a planted flag says so; one candidate each at p 0.6.

    A None model that knows the flag is right on every order; prod(1 - p) = 0.4 never
    predicts None, so it misses every None order.
    """
    rng = np.random.default_rng(seed)
    is_none = rng.random(n) < 0.5
    ids = np.arange(1, n + 1)
    items = pl.DataFrame({"order_id": ids, "product_id": ids * 10, "p": np.full(n, 0.6)})
    truth = pl.DataFrame(
        {
            "order_id": ids,
            "products": ["None" if f else str(i * 10) for i, f in zip(ids, is_none, strict=True)],
        }
    )
    knows = pl.DataFrame({"order_id": ids, "p_none": np.where(is_none, 0.99, 0.01)})
    return items, truth, knows


def test_auto_picks_a_none_model_that_knows_the_truth():
    items, truth, knows = _planted(200, seed=1)
    chosen, info = choose_p_none(items, knows, truth, requested=PNone.AUTO)
    assert chosen is PNone.MODEL
    assert info["oof_f1"]["model"] == pytest.approx(1.0)
    assert info["oof_f1"]["independent"] < 0.7
    assert info["orders"] == 200 and info["chosen"] == "model" and info["requested"] == "auto"


def test_auto_drops_a_none_model_that_is_wrong():
    items, truth, knows = _planted(200, seed=2)
    backwards = knows.with_columns(p_none=1.0 - pl.col("p_none"))
    chosen, info = choose_p_none(items, backwards, truth, requested=PNone.AUTO)
    assert chosen is not PNone.MODEL
    assert info["oof_f1"][chosen.value] == max(info["oof_f1"].values())
    assert info["oof_f1"]["model"] < info["oof_f1"]["independent"]


def test_a_requested_source_is_kept_and_without_a_none_model_it_is_independence():
    items, truth, knows = _planted(50, seed=3)
    chosen, info = choose_p_none(items, knows, truth, requested=PNone.INDEPENDENT)
    assert chosen is PNone.INDEPENDENT and set(info["oof_f1"]) == {"model", "independent", "blend"}
    chosen, info = choose_p_none(items, None, truth, requested=PNone.MODEL)
    assert chosen is PNone.INDEPENDENT and set(info["oof_f1"]) == {"independent"}


def test_config_p_none_default_values_and_the_old_key():
    assert RunConfig().basket.p_none is PNone.AUTO
    assert load_config(**{"basket.p_none": "blend"}).basket.p_none is PNone.BLEND
    with pytest.raises(ConfigError, match=r"basket\.p_none must be one of"):
        BasketConfig(p_none="sometimes")  # type: ignore[arg-type]
    for old, new in ((True, PNone.MODEL), (False, PNone.INDEPENDENT)):
        with pytest.warns(FutureWarning, match=f'p_none = "{new.value}"'):
            assert load_config(**{"basket.use_none_model": old}).basket.p_none is new
    with pytest.raises(ConfigError, match="give p_none alone"):
        load_config(**{"basket.use_none_model": True, "basket.p_none": "auto"})
    text = load_config(**{"basket.p_none": "independent"}).to_toml()
    assert 'p_none = "independent"' in text
    assert RunConfig.from_dict(tomllib.loads(text)).basket.p_none is PNone.INDEPENDENT


def test_a_stacked_run_reads_the_item_model_and_predict_reproduces_its_p_none(tmp_path):
    from basketcast import pipeline
    from basketcast.data.sources.synthetic import synthetic, write_synthetic

    data = tmp_path / "data"
    write_synthetic(synthetic(120, seed=5), data, format="parquet")
    config = load_config(
        **{
            "threads": 1,
            "model.folds": 2,
            "model.num_boost_round": 10,
            "model.early_stopping_rounds": 5,
            "model.max_depth": 4,
            "model.stack_none": True,
            "features.history_targets": 0,
            "basket.p_none": "model",
        }
    )
    result = pipeline.run(data, tmp_path / "run", config=config)
    assert result.metrics["p_none"]["chosen"] == "model"
    # The choice is published with the models, under the run's manifest.
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    assert "models/p_none.json" in manifest["files"]
    assert set(result.metrics["p_none"]["oof_f1"]) == {"model", "independent", "blend"}
    names = load_manifest(tmp_path / "run" / "models", prefix="none")["feature_names"]
    assert set(STACK_COLUMNS) <= set(names)
    # Test orders were stacked on the fold-averaged item p; predict must stack the same way.
    _, p_none = pipeline.predict_probabilities(tmp_path / "run", data)
    assert p_none is not None
    saved = pl.read_parquet(tmp_path / "run" / "predictions.parquet").filter(
        (pl.col("kind") == "none") & (pl.col("depth") == 0)
    )
    both = saved.join(p_none, on="order_id")
    assert both.height == saved.height > 0
    assert (both["p"] - both["p_none"]).abs().max() <= 1e-6
