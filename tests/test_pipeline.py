"""End to end: `run` and `predict` on real files, caching, determinism, atomic outputs, other data."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import polars as pl
import pytest

from basketcast import pipeline
from basketcast.config import AUTO_HISTORY_TARGETS, AUTO_MODEL_PARAMS, PNone, load_config
from basketcast.data.dataset import DataError
from basketcast.data.sources.synthetic import synthetic, write_synthetic
from basketcast.data.sources.transactions import from_transactions, write_converted

FAST = {
    "threads": 1,
    "model.folds": 3,
    "model.num_boost_round": 60,
    "model.early_stopping_rounds": 10,
    "features.history_targets": 1,
}


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synth")
    write_synthetic(synthetic(400, seed=101), folder, format="parquet")
    return folder


@pytest.fixture(scope="module")
def first_run(synth_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    return pipeline.run(synth_dir, out, config=load_config(**FAST))


def test_auto_history_targets_are_resolved_against_the_data_and_recorded(tmp_path):
    data = tmp_path / "data"
    write_synthetic(synthetic(60, seed=5), data, format="parquet")
    fast = FAST | {"features.history_targets": "auto", "model.num_boost_round": 5}
    events: list[tuple[str, str]] = []
    result = pipeline.run(
        data, tmp_path / "run", config=load_config(**fast), progress=lambda *e: events.append(e)
    )
    assert result.metrics["history_targets"] == {
        "requested": "auto", "used": AUTO_HISTORY_TARGETS, "users": 60,
    }  # fmt: skip
    written = load_config(tmp_path / "run" / "config.toml")
    assert written.features.history_targets == AUTO_HISTORY_TARGETS
    assert ("validate", f"history targets: auto -> {AUTO_HISTORY_TARGETS} for 60 users") in events
    # The model parameters' "auto" too: 60 users is small data.
    small = {k: pair[0] for k, pair in AUTO_MODEL_PARAMS.items()}
    assert result.metrics["model_parameters"] == {
        "requested": dict.fromkeys(AUTO_MODEL_PARAMS, "auto"), "used": small, "users": 60,
    }  # fmt: skip
    assert {k: getattr(written.model, k) for k in AUTO_MODEL_PARAMS} == small
    said = ", ".join(f"{k} {v}" for k, v in small.items())
    assert ("validate", f"model parameters: auto -> {said} for 60 users") in events


def test_run_writes_every_output(first_run, synth_dir):
    out = first_run.out
    for name in (
        "config.toml",
        "oof.parquet",
        "predictions.parquet",
        "submission.csv",
        "metrics.json",
        "report.html",
    ):
        assert (out / name).stat().st_size > 0, name
    assert list(out.glob("models/item_fold*.ubj")) and list(out.glob("models/none_fold*.ubj"))
    assert not list(out.rglob("*.tmp")), "temporary files left behind"

    submission = pl.read_csv(out / "submission.csv")
    test_orders = pl.read_parquet(synth_dir / "orders.parquet").filter(pl.col("eval_set") == "test")
    assert submission["order_id"].to_list() == sorted(test_orders["order_id"].to_list())
    tokens = submission["products"].str.split(" ")
    assert tokens.list.eval(pl.element() == "None").list.sum().max() <= 1
    assert (
        tokens.list.eval(pl.element() == "None").list.last().cast(pl.Int8).sum()
        == tokens.list.contains("None").sum()
    )

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["folds_covered"] == [0, 1, 2]
    assert metrics["history_targets"] == {"requested": 1, "used": 1, "users": 400}
    assert {s["name"] for s in metrics["stages"]} >= {
        "validate",
        "features",
        "item model",
        "baskets",
    }
    assert all(s["peak_rss_mb"] > 0 for s in metrics["stages"])
    methods = {r["method"] for r in metrics["f1_table"]}
    assert "oracle: true probabilities + F1 maximiser" in methods


def test_products_come_in_descending_probability(first_run):
    predictions = pl.read_parquet(first_run.out / "predictions.parquet").filter(
        pl.col("kind") == "item"
    )
    p = dict(
        zip(
            zip(predictions["order_id"], predictions["product_id"], strict=True),
            predictions["p"],
            strict=True,
        )
    )
    for order_id, products in pl.read_csv(first_run.out / "submission.csv").iter_rows():
        items = [int(t) for t in products.split() if t != "None"]
        probs = [p[(order_id, i)] for i in items]
        assert probs == sorted(probs, reverse=True)


def test_model_beats_every_baseline_and_nears_the_oracle(first_run):
    rows = [r for r in first_run.metrics["f1_table"] if r["orders"] == "all last baskets"]
    score = {r["method"]: r["mean_f1"] for r in rows}
    ours = score["basketcast (p_none = prod(1 - p))"]
    assert ours > max(v for k, v in score.items() if k.startswith("baseline"))
    assert ours > 0.9 * score["oracle: true probabilities + F1 maximiser"]


def test_rerun_reuses_stages_and_gives_identical_bytes(first_run, synth_dir, tmp_path):
    again = pipeline.run(synth_dir, first_run.out, config=load_config(**FAST))
    cached = {s.name for s in again.stages if s.cached}
    assert cached == {"features", "item model", "none model"}
    fresh = pipeline.run(synth_dir, tmp_path / "fresh", config=load_config(**FAST))
    assert not any(s.cached for s in fresh.stages)
    original = (first_run.out / "submission.csv").read_bytes()
    assert (tmp_path / "fresh" / "submission.csv").read_bytes() == original


def test_a_changed_model_setting_retrains_but_keeps_features(first_run, synth_dir, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(first_run.out, copy)
    result = pipeline.run(synth_dir, copy, config=load_config(**{**FAST, "model.max_depth": 6}))
    cached = {s.name for s in result.stages if s.cached}
    assert cached == {"features"}


def test_predict_from_a_saved_run_reproduces_the_submission(first_run, synth_dir, tmp_path):
    submission = pipeline.predict(first_run.out, synth_dir, tmp_path / "again.csv")
    original = pl.read_csv(first_run.out / "submission.csv")
    # `predict` scores train orders too; on test orders it must match the run exactly.
    assert submission.join(original, on="order_id", how="semi").equals(original)


def test_bad_data_fails_before_any_output(tmp_path, synth_dir):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(synth_dir, broken)
    orders = pl.read_parquet(broken / "orders.parquet")
    orders.with_columns(order_dow=pl.col("order_dow") + 5).write_parquet(broken / "orders.parquet")
    with pytest.raises(DataError, match="order_dow"):
        pipeline.run(broken, tmp_path / "out", config=load_config(**FAST))
    assert not (tmp_path / "out").exists()


def test_interrupted_run_leaves_no_complete_looking_outputs(synth_dir, tmp_path, monkeypatch):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "_report", interrupt)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run(synth_dir, tmp_path / "out", config=load_config(**FAST))
    assert not (tmp_path / "out" / "metrics.json").exists()
    assert not list((tmp_path / "out").rglob("*.tmp"))


def test_a_from_transactions_export_runs_unchanged(tmp_path):
    """A retailer's plain transactions table (string ids) → Instacart layout → run."""
    data = synthetic(300, seed=202).tables
    orders = data["orders"].sort("user_id", "order_number")
    start = datetime(2024, 1, 1, 9)
    timed = orders.with_columns(
        time=pl.lit(start)
        + pl.duration(days=pl.col("days_since_prior_order").fill_null(0).cum_sum().over("user_id"))
        + pl.duration(hours=pl.col("order_hour_of_day").cast(pl.Int64))
    )
    lines = pl.concat([data["order_products__prior"], data["order_products__train"]]).join(
        timed.select("order_id", "user_id", "time"), on="order_id"
    )
    lines = lines.select(
        customer=pl.format("C{}", "user_id"),
        basket=pl.format("B{}", "order_id"),
        sku=pl.format("SKU-{}", "product_id"),
        time=pl.col("time") + timedelta(minutes=1),
    )
    converted = from_transactions(
        lines, user="customer", order="basket", time="time", product="sku"
    )
    write_converted(converted, tmp_path / "data", format="csv")
    result = pipeline.run(tmp_path / "data", tmp_path / "run", config=load_config(**FAST))
    score = {
        r["method"]: r["mean_f1"]
        for r in result.metrics["f1_table"]
        if r["orders"] == "all last baskets"
    }
    assert score["basketcast (p_none = prod(1 - p))"] > score["baseline: repeat the last basket"]


def _ten_test_users(synth_dir, out):
    """A folder with only 10 test users' orders and lines, and every product."""
    import shutil

    orders = pl.read_parquet(synth_dir / "orders.parquet")
    users = orders.filter(pl.col("eval_set") == "test").get_column("user_id").unique().sort()[:10]
    theirs = orders.filter(pl.col("user_id").is_in(users.implode()))
    out.mkdir()
    theirs.write_parquet(out / "orders.parquet")
    for name in ("order_products__prior", "order_products__train"):
        lines = pl.read_parquet(synth_dir / f"{name}.parquet")
        lines.join(theirs.select("order_id"), on="order_id", how="semi").write_parquet(
            out / f"{name}.parquet"
        )
    for name in ("products", "aisles", "departments"):
        shutil.copy(synth_dir / f"{name}.parquet", out / f"{name}.parquet")
    return theirs.filter(pl.col("eval_set") == "test").select("order_id")


def test_predict_on_ten_test_users_alone_matches_the_full_folder_and_the_run(
    first_run, synth_dir, tmp_path
):
    ten = _ten_test_users(synth_dir, tmp_path / "ten")
    # The None model's own p, whichever source auto chose (it stacks the item model's p).
    model = PNone.MODEL
    alone, alone_none = pipeline.predict_probabilities(
        first_run.out, tmp_path / "ten", p_none=model
    )
    full, full_none = pipeline.predict_probabilities(first_run.out, synth_dir, p_none=model)
    saved = pl.read_parquet(first_run.out / "predictions.parquet").join(
        ten, on="order_id", how="semi"
    )
    assert alone_none is not None and full_none is not None

    for kind, mine, everyone, key in (
        ("item", alone, full, ["order_id", "product_id"]),
        (
            "none",
            alone_none.rename({"p_none": "p"}),
            full_none.rename({"p_none": "p"}),
            ["order_id"],
        ),
    ):
        run_rows = saved.filter(pl.col("kind") == kind).select(*key, p_run="p")
        both = mine.join(everyone.select(*key, p_full="p"), on=key).join(run_rows, on=key)
        assert both.height == mine.height == run_rows.height > 0, kind
        assert (both["p"] - both["p_full"]).abs().max() <= 1e-6, kind
        assert (both["p"] - both["p_run"]).abs().max() <= 1e-6, kind

    baskets = pipeline.predict(first_run.out, tmp_path / "ten", tmp_path / "ten.csv")
    original = pl.read_csv(first_run.out / "submission.csv").join(ten, on="order_id", how="semi")
    assert baskets.sort("order_id").equals(original.sort("order_id")) and original.height == 10


def test_predict_from_a_run_without_saved_stats_says_to_rerun(first_run, synth_dir, tmp_path):
    import shutil

    from basketcast.features.stats import StatsError

    old = tmp_path / "old-run"
    shutil.copytree(first_run.out, old, ignore=shutil.ignore_patterns("stats", "features"))
    with pytest.raises(StatsError, match="re-run `basketcast run`") as error:
        pipeline.predict(old, synth_dir, tmp_path / "out.csv")
    assert str(old / "stats") in str(error.value)
    assert not (tmp_path / "out.csv").exists()


def test_predict_next_answers_every_user_and_a_pending_test_order_as_the_run(
    first_run, synth_dir, tmp_path
):
    ten = _ten_test_users(synth_dir, tmp_path / "ten")
    nxt = pipeline.predict(first_run.out, tmp_path / "ten", tmp_path / "next.csv", orders="next")
    assert nxt.columns == [
        "user_id", "order_id", "order_dow", "order_hour_of_day", "days_since_prior_order",
        "products",
    ]  # fmt: skip
    # These users' next orders are their pending test orders: the run's own baskets.
    original = pl.read_csv(first_run.out / "submission.csv").join(ten, on="order_id", how="semi")
    assert nxt.select("order_id", "products").sort("order_id").equals(original.sort("order_id"))
    # On the whole folder every user gets one next basket, the train users a new order.
    every = pipeline.predict(first_run.out, synth_dir, tmp_path / "all.csv", orders="next")
    users = pl.read_parquet(synth_dir / "orders.parquet").get_column("user_id").unique()
    assert sorted(every.get_column("user_id").to_list()) == sorted(users.to_list())
    assert pl.read_csv(tmp_path / "all.csv").height == users.len()
