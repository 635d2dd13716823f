"""The map-reduce of the families' statistics equals one pass over every user (no Dask needed)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from basketcast.config import FeatureConfig
from basketcast.data.load import load_dataset
from basketcast.distributed import stats
from basketcast.distributed._transform import families, fit_whole
from basketcast.distributed.shard import shard_dataset
from basketcast.features.history import cut_history


@pytest.fixture(scope="module")
def parts(synth_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> list:
    out = tmp_path_factory.mktemp("shards")
    manifest = shard_dataset(synth_folder, out, shards=4)
    return [load_dataset(f) for f in manifest.folders(out)]


@pytest.mark.parametrize("depth", [0, 2])
def test_combined_partials_equal_the_fit_on_everyone(
    synth_folder: Path, parts: list, depth: int
) -> None:
    history = cut_history(load_dataset(synth_folder), depth)
    names = families(FeatureConfig(), history)
    shard_partials = [stats.partials(cut_history(p, depth), names) for p in parts]
    combined = stats.combine(shard_partials, names)
    whole = fit_whole(history, FeatureConfig()).tables
    assert set(combined) == set(whole)
    for family, tables in whole.items():
        assert set(combined[family]) == set(tables), family
        for name, expected in tables.items():
            keys = [c for c in expected.columns if c.endswith("_id") or c == "order_dow"]
            got = combined[family][name].sort(keys)
            assert_frame_equal(
                got.select(expected.columns),
                expected.sort(keys),
                check_dtypes=False,
                check_exact=False,
                rel_tol=1e-9,
                abs_tol=1e-9,
            )


def test_combine_is_independent_of_how_users_are_split(parts: list) -> None:
    names = families(FeatureConfig(), cut_history(parts[0], 0))
    four = [stats.partials(cut_history(p, 0), names) for p in parts]
    merged = stats.combine(four, names)
    # two shards instead of four: concatenate the partial tables pairwise (sums are associative)
    pairs = [
        {k: pl.concat([a[k], b[k]]) for k in a} for a, b in ((four[0], four[1]), (four[2], four[3]))
    ]
    again = stats.combine(pairs, names)
    for family in merged:
        for name in merged[family]:
            assert_frame_equal(merged[family][name], again[family][name], check_exact=False)


def test_a_family_with_statistics_needs_a_decomposition() -> None:
    with pytest.raises(ValueError, match="no map-reduce decomposition"):
        stats.check_decomposed(["product", "made_up_family"])
