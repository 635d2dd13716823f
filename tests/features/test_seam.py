"""The fit/transform seam: shards, one user and saved statistics give the batch's rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from basketcast.config import FeatureConfig
from basketcast.data.dataset import Dataset
from basketcast.data.sources.synthetic import synthetic
from basketcast.data.validate import validate
from basketcast.features import (
    REGISTRY,
    FittedStats,
    StatsError,
    build_features,
    fit_stats,
    transform_users,
)
from basketcast.features.build import select_users
from basketcast.frame import ITEM_KEYS, ORDER_KEYS

CONFIG = FeatureConfig(history_targets=1)


@pytest.fixture(scope="module")
def synth() -> Dataset:
    tables = synthetic(300, seed=7, threads=1).tables
    return validate({name: frame.lazy() for name, frame in tables.items()})


@pytest.fixture(scope="module")
def batch(synth: Dataset):
    return build_features(synth, config=CONFIG)


def assert_same_rows(got: pl.DataFrame, want: pl.DataFrame, keys: tuple[str, ...]) -> None:
    """Same columns and rows; integers exactly, floats to 1e-6."""
    assert got.columns == want.columns
    assert got.height == want.height > 0
    got, want = got.sort(keys), want.sort(keys)
    for column in want.columns:
        a, b = got[column], want[column]
        assert a.is_null().equals(b.is_null()), column
        if b.dtype.is_float():
            np.testing.assert_allclose(
                a.drop_nulls().to_numpy(), b.drop_nulls().to_numpy(), rtol=1e-6, atol=1e-6
            )
        else:
            assert a.equals(b), column


def shard_of(users: pl.Series, shards: int) -> pl.Series:
    return users.hash(seed=0) % shards


@pytest.mark.parametrize("depth", [0, 1])
def test_shards_transformed_alone_equal_the_one_shot_frame(synth, batch, depth):
    stats = fit_stats(synth, config=CONFIG, depth=depth)
    users = synth.orders.get_column("user_id").unique()
    shard = shard_of(users, 4)
    parts = [
        transform_users(select_users(synth, users.filter(shard == k)), stats, config=CONFIG)
        for k in range(4)
    ]
    assert all(p.items.height for p in parts), "a shard is empty: the test would prove little"
    items = pl.concat([p.items for p in parts])
    orders = pl.concat([p.orders for p in parts])
    want = batch.items.filter(pl.col("depth") == depth)
    assert_same_rows(items, want, ITEM_KEYS)
    assert_same_rows(orders, batch.orders.filter(pl.col("depth") == depth), ORDER_KEYS)


@pytest.mark.parametrize("family", ["substitutes"])
def test_an_opt_in_familys_shards_equal_the_one_shot_frame(synth, family):
    """Per-user opt-in families pass the same seam: shards transformed alone give the batch's rows."""
    config = FeatureConfig(history_targets=0, include=(family,))
    stats = fit_stats(synth, config=config)
    want = transform_users(synth, stats, config=config).items
    assert set(REGISTRY.family(family).columns) <= set(want.columns)
    users = synth.orders.get_column("user_id").unique()
    shard = shard_of(users, 4)
    parts = [
        transform_users(select_users(synth, users.filter(shard == k)), stats, config=config)
        for k in range(4)
    ]
    assert_same_rows(pl.concat([p.items for p in parts]), want, ITEM_KEYS)


def test_one_user_with_saved_stats_equals_the_batch(synth, batch, tmp_path: Path):
    batch.stats.save(tmp_path / "stats")
    stats = FittedStats.load(tmp_path / "stats")
    assert stats.families == batch.stats.families
    # A user with a test target and one with a train target (a label to carry).
    targets = synth.target_orders()
    for eval_set in ("test", "train"):
        user = targets.filter(pl.col("eval_set") == eval_set).get_column("user_id")[0]
        alone = transform_users(select_users(synth, [user]), stats, config=CONFIG)
        mine = (pl.col("user_id") == user) & (pl.col("depth") == 0)
        assert_same_rows(alone.items, batch.items.filter(mine), ITEM_KEYS)
        assert_same_rows(alone.orders, batch.orders.filter(mine), ORDER_KEYS)


def test_shared_statistics_come_from_the_stats_not_the_users_history(synth, batch):
    """Transforming with other statistics changes product columns, never per-user ones."""
    user = synth.target_orders().get_column("user_id")[0]
    one = select_users(synth, [user])
    own = transform_users(one, fit_stats(one, config=CONFIG), config=CONFIG).items
    fitted = transform_users(one, batch.stats, config=CONFIG).items
    assert own["p_buyers"].max() == 1 and fitted["p_buyers"].max() > 1
    assert own["up_orders"].equals(fitted["up_orders"])


def test_saved_stats_round_trip_and_old_runs_get_a_clear_error(batch, tmp_path: Path):
    folder = batch.stats.save(tmp_path / "stats")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["format_version"] == 1 and manifest["depth"] == 0
    loaded = FittedStats.load(folder)
    for family, named in batch.stats.tables.items():
        for name, frame in named.items():
            assert loaded.tables[family][name].equals(frame), (family, name)

    with pytest.raises(StatsError, match="re-run `basketcast run`") as error:
        FittedStats.load(tmp_path / "old-run" / "stats")
    assert "old-run" in str(error.value)

    manifest["format_version"] = 0
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(StatsError, match="format version 0"):
        FittedStats.load(folder)


def test_transform_needs_stats_of_every_family_it_computes(synth):
    stats = fit_stats(synth, config=FeatureConfig(history_targets=0, exclude=("context",)))
    with pytest.raises(StatsError, match="'context' was not fitted"):
        transform_users(synth, stats, config=FeatureConfig(history_targets=0))


def test_the_run_stage_writes_each_depth_away_and_reads_back_the_batch(synth, tmp_path: Path):
    """`basketcast run` spills each depth to its cache as it is built: same frames as in memory."""
    from basketcast.cached_stages import cached_features
    from basketcast.config import load_config
    from basketcast.runfolder import open_run_folder

    config = load_config(**{"features.history_targets": 2})
    want = build_features(synth, config=config.features)
    with open_run_folder(tmp_path / "run") as folder:
        got, cached = cached_features(synth, folder, "fp", config, lambda stage, text: None)
        again, hit = cached_features(synth, folder, "fp", config, lambda stage, text: None)
    assert (cached, hit) == (False, True)
    assert sorted(got.items.get_column("depth").unique()) == [0, 1, 2]
    for frames in (got, again):
        assert frames.items.equals(want.items)
        assert frames.orders.equals(want.orders)


def test_a_depth_built_in_parts_stacks_to_the_whole_depth(synth, batch):
    """Parts are contiguous order-id ranges: stacked, the same rows in the same order."""
    from basketcast.features.build import build_depths

    parts = list(build_depths(synth, config=CONFIG, lines_per_part=2_000))
    per_depth = [sum(d == depth for d, _, _ in parts) for depth in (0, 1)]
    assert min(per_depth) > 3  # really in parts
    stacked = pl.concat([part for _, part, _ in parts])
    want = batch.items
    assert stacked.select(ITEM_KEYS).equals(want.select(ITEM_KEYS))  # same rows, same order
    assert_same_rows(stacked, want, ITEM_KEYS)
