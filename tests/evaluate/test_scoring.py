"""A run's evaluation on real files: every method scored, paired differences, next-basket table."""

from __future__ import annotations

import polars as pl
import pytest

from basketcast.config import PNone
from basketcast.data.load import load_dataset
from basketcast.data.sources.synthetic import synthetic, write_synthetic
from basketcast.evaluate import scoring
from basketcast.evaluate.ranking import p_topfreq
from basketcast.evaluate.scoring import ALL, OURS, TEST, TRAIN_OOF, evaluate_run


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple:
    """evaluate_run on 150 synthetic users; P-TopFreq's scores, scaled into (0, 1), stand in
    for a model's p (same ranking per order)."""
    folder = tmp_path_factory.mktemp("synth")
    write_synthetic(synthetic(150, seed=5), folder, format="parquet")
    dataset = load_dataset(folder)
    kinds = dataset.orders.select("order_id", "user_id", "eval_set")
    rows = (
        p_topfreq(dataset)
        .with_columns(share=pl.col("score") / (pl.col("score").max() + 1))
        .join(kinds, on="order_id")
        .select(
            "order_id",
            "user_id",
            "product_id",
            depth=pl.lit(0, pl.Int32),
            fold=pl.when(pl.col("eval_set") == "train").then(pl.lit(0)).otherwise(pl.lit(-1)),
            p=pl.col("share").clip(0.0, 1.0),
            kind=pl.lit("item"),
            eval_set="eval_set",
        )
    )
    oof = rows.filter(pl.col("eval_set") == "train").drop("eval_set")
    predictions = rows.filter(pl.col("eval_set") == "test").drop("eval_set")
    return dataset, folder, oof, predictions


@pytest.fixture(scope="module")
def scored(inputs) -> dict:
    return evaluate_run(*inputs, seed=0, has_none=False, choice=PNone.INDEPENDENT)


def test_every_method_on_every_set_of_orders(scored: dict) -> None:
    table = pl.DataFrame(scored["f1_table"])
    methods = table.get_column("method").unique().to_list()
    for name in ("P-TopFreq", "GP-TopFreq", "TIFU-KNN"):
        assert sum(m.startswith(f"baseline: {name}") for m in methods) == 2  # top-k, calibrated
    assert set(table.get_column("orders")) == {TRAIN_OOF, TEST, ALL}
    assert scored["f1"]["method"] == OURS
    params = scored["baseline_parameters"]
    assert set(params["top_k"]) == {"P-TopFreq", "GP-TopFreq", "TIFU-KNN"}


def test_paired_difference_is_the_difference_of_the_means(scored: dict) -> None:
    table = {(r["method"], r["orders"]): r for r in scored["f1_table"]}
    ours = table[(OURS, ALL)]
    assert len(scored["paired"]) == sum(1 for m, o in table if o == ALL and m.startswith("base"))
    for row in scored["paired"]:
        theirs = table[(row["baseline"], ALL)]
        assert row["n"] == ours["n"] == theirs["n"]
        assert row["mean_diff"] == pytest.approx(ours["mean_f1"] - theirs["mean_f1"])
        assert row["ci_low"] <= row["mean_diff"] <= row["ci_high"]
        assert row["wins"] + row["losses"] <= row["n"]


def test_next_basket_table(scored: dict) -> None:
    rows = {(r["method"], r["orders"]): r for r in scored["nbr_metrics"]}
    assert {m for m, _ in rows} == {"basketcast", "P-TopFreq", "GP-TopFreq", "TIFU-KNN"}
    ours = rows[("basketcast", "train (out of fold)")]
    # basketcast ranks previously bought products only: explore recall is 0 by construction
    if ours["orders_expl"]:
        assert ours["recall_expl@10"] == 0.0 and ours["ndcg_expl@20"] == 0.0
    assert "by construction" in ours["note"]
    # the same ranking as P-TopFreq: the same figures
    theirs = rows[("P-TopFreq", "train (out of fold)")]
    for key in ("recall_all@10", "recall_rep@20", "ndcg_rep@10", "ndcg_all@20"):
        assert ours[key] == pytest.approx(theirs[key])
    test = rows[("TIFU-KNN", "test")]
    assert test["recall_all@10"] is None and test["recall_expl@10"] is None
    assert test["recall_rep@10"] is not None and "reorders only" in test["note"]


def test_paired_repeat_recall(scored: dict) -> None:
    rows = {(r["method"], r["orders"]): r for r in scored["nbr_metrics"]}
    for row in scored["paired_nbr"]:
        ours = rows[("basketcast", row["orders"])]["recall_rep@10"]
        theirs = rows[(row["baseline"], row["orders"])]["recall_rep@10"]
        assert row["mean_diff"] == pytest.approx(ours - theirs)
        if row["baseline"] == "P-TopFreq":  # the same ranking: no difference at all
            assert (row["ci_low"], row["ci_high"]) == (0.0, 0.0)
    assert {r["baseline"] for r in scored["paired_nbr"]} == {"P-TopFreq", "GP-TopFreq", "TIFU-KNN"}


def test_big_runs_skip_the_field_baselines(inputs, monkeypatch) -> None:
    monkeypatch.setattr(scoring, "FIELD_MAX_ORDERS", 100)  # the data has 150 target orders
    out = evaluate_run(*inputs, seed=0, has_none=False, choice=PNone.INDEPENDENT)
    assert "150 target orders, above 100" in out["baseline_parameters"]["skipped"]
    assert not any("TIFU" in r["method"] for r in out["f1_table"])
    assert {r["method"] for r in out["nbr_metrics"]} == {"basketcast"}
    assert out["paired_nbr"] == [] and len(out["paired"]) == 4
