"""The registry of families: lookups, exclusion, the column contract the assembler enforces."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from basketcast.config import FeatureConfig, RunConfig, load_config
from basketcast.features import (
    REGISTRY,
    FamilyContractError,
    FeatureFamily,
    Registry,
    Scope,
    build_features,
)
from basketcast.features.assemble import fit_history, plan, transform_history
from basketcast.features.family import Stats
from basketcast.features.history import History, cut_history
from basketcast.frame import ID_COLUMNS, feature_names
from tests.features.conftest import A


class Constant(FeatureFamily):
    """A test family: adds `adds` as constant columns, whatever it describes."""

    def __init__(self, *, adds: tuple[str, ...], describes: tuple[str, ...]) -> None:
        super().__init__(
            name="constant",
            scope=Scope.USER,
            keys=("user_id",),
            columns={c: f"the constant {c}" for c in describes},
        )
        object.__setattr__(self, "adds", adds)

    def transform(self, frame: pl.LazyFrame, history: History, stats: Stats) -> pl.LazyFrame:
        return frame.with_columns(pl.lit(2.5).alias(c) for c in self.adds)  # type: ignore[attr-defined]


def items_with(tiny, family: FeatureFamily) -> pl.DataFrame:
    registry = Registry((*REGISTRY.families, family))
    config = FeatureConfig(history_targets=0)
    history = cut_history(tiny, 0)
    stats = fit_history(history, plan(config, history, registry=registry).compute)
    return transform_history(tiny, history, stats, config, registry=registry).collect()


def test_a_new_family_appended_to_the_registry_lands_last(tiny):
    items = items_with(tiny, Constant(adds=("c_one",), describes=("c_one",)))
    assert items.columns[-1] == "c_one" and items["c_one"].to_list() == [2.5] * items.height


def test_an_undescribed_or_unproduced_column_is_an_error(tiny):
    with pytest.raises(FamilyContractError, match=r"undescribed column\(s\) \['c_two'\]"):
        items_with(tiny, Constant(adds=("c_one", "c_two"), describes=("c_one",)))
    with pytest.raises(FamilyContractError, match=r"does not produce \['c_three'\]"):
        items_with(tiny, Constant(adds=("c_one",), describes=("c_one", "c_three")))


def test_lookup_by_family_and_by_column():
    assert REGISTRY.family("product").scope is Scope.PRODUCT
    assert REGISTRY.family_of("up_streak").name == "user_product"
    assert REGISTRY.family_of("o_candidates").scope is Scope.ORDER
    with pytest.raises(KeyError, match="user_product"):
        REGISTRY.family("nope")
    with pytest.raises(ValueError, match="'u_orders' is described by both"):
        Registry((*REGISTRY.families, Constant(adds=(), describes=("u_orders",))))


def test_the_item_frame_holds_the_registry_columns_in_registry_order(tiny):
    items = build_features(tiny, config=FeatureConfig(history_targets=0)).items
    expected = [c for f in REGISTRY.item_families if f.default_on for c in f.columns]
    assert items.columns == [*ID_COLUMNS, *expected]
    # Opt-in families (features.include) join in registry order too.
    opt_in = tuple(f.name for f in REGISTRY.item_families if not f.default_on)
    assert opt_in
    config = FeatureConfig(history_targets=0, include=opt_in)
    every = [c for f in REGISTRY.item_families for c in f.columns]
    assert build_features(tiny, config=config).items.columns == [*ID_COLUMNS, *every]


def test_excluding_a_family_drops_its_columns_and_keeps_the_rest_unchanged(tiny):
    full = build_features(tiny, config=FeatureConfig(history_targets=1))
    less = build_features(tiny, config=FeatureConfig(history_targets=1, exclude=("user",)))
    user = list(REGISTRY.family("user").columns)
    assert not set(user) & set(less.items.columns)
    # The context family reads u_days_mean: still computed for it, so its values do not move.
    assert less.items.equals(full.items.drop(user))
    assert not set(user) & set(feature_names(less.orders))
    assert "o_candidates" in less.orders.columns
    row = less.items.filter((pl.col("user_id") == 1) & (pl.col("product_id") == A)).row(
        0, named=True
    )
    assert row["t_days_vs_user"] == pytest.approx(7)

    none = build_features(tiny, config=FeatureConfig(history_targets=0, exclude=("order",)))
    assert not [c for c in none.orders.columns if c.startswith("o_")]


def test_unknown_family_in_exclude_names_the_families(tiny):
    with pytest.raises(ValueError, match=r"unknown feature families \['contxt'\].*'context'"):
        build_features(tiny, config=FeatureConfig(history_targets=0, exclude=("contxt",)))


def test_old_context_switch_reads_as_exclude_with_a_warning(tmp_path: Path):
    old = tmp_path / "old.toml"
    old.write_text("[features]\ncontext_features = false\n")
    with pytest.warns(FutureWarning, match=r'exclude = \["context"\]'):
        config = load_config(old)
    assert config.features.exclude == ("context",)
    with pytest.warns(FutureWarning, match="nothing"):
        assert load_config(**{"features.context_features": True}).features.exclude == ()
    # The resolved configuration a run writes has no trace of it, and reads back the same.
    again = tmp_path / "again.toml"
    again.write_text(config.to_toml())
    assert "context_features" not in again.read_text()
    assert load_config(again) == config == RunConfig(features=FeatureConfig(exclude=("context",)))
