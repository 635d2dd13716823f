"""Known answers for the generator: each typology emits the structure its spec claims."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from amlwatch.synth import SynthConfig, World, generate
from amlwatch.synth.typologies import BUILDERS, DAY, TYPOLOGIES

SEEDS = range(40)


def _legs(kind: str):
    return [BUILDERS[kind](np.random.default_rng(s)) for s in SEEDS]


def test_fan_in_and_fan_out_sizes_and_span() -> None:
    for legs in _legs("fan_in"):
        assert set(legs.dst.tolist()) == {0}
        assert 5 <= len(set(legs.src.tolist())) == len(legs.src) <= 12
        assert legs.minute.max() <= 5 * DAY
    for legs in _legs("fan_out"):
        assert set(legs.src.tolist()) == {0}
        assert 5 <= len(set(legs.dst.tolist())) == len(legs.dst) <= 12


def test_cycle_closes_in_time_order() -> None:
    for legs in _legs("cycle"):
        n = legs.n
        assert 3 <= n <= 6
        assert legs.src[0] == legs.dst[-1]  # the last leg pays the first payer
        assert np.all(legs.dst[:-1] == legs.src[1:])  # each account pays the next
        gaps = np.diff(legs.minute)
        assert np.all(gaps >= DAY) and np.all(gaps <= 3 * DAY)
        assert np.all(np.diff(legs.usd) < 0)  # every hop keeps 95-99 %


def test_gather_happens_before_scatter() -> None:
    for legs in _legs("gather_scatter"):
        into = legs.dst == 0
        out = legs.src == 0
        assert 4 <= into.sum() <= 10 and 4 <= out.sum() <= 10
        assert legs.minute[into].max() < legs.minute[out].min()
        assert legs.usd[out].sum() < legs.usd[into].sum()
        assert not set(legs.src[into].tolist()) & set(legs.dst[out].tolist())


def test_scatter_gather_intermediaries_forward_after_being_paid() -> None:
    for legs in _legs("scatter_gather"):
        sink = legs.n - 1
        out = legs.src == 0
        back = legs.dst == sink
        assert 3 <= out.sum() <= 8 and out.sum() == back.sum()
        paid = dict(zip(legs.dst[out].tolist(), legs.minute[out].tolist(), strict=True))
        for m, t in zip(legs.src[back].tolist(), legs.minute[back].tolist(), strict=True):
            assert 2 * DAY <= t - paid[m] <= 7 * DAY


def test_stack_and_bipartite_are_complete_between_layers() -> None:
    for legs in _legs("bipartite"):
        payers, payees = set(legs.src.tolist()), set(legs.dst.tolist())
        assert len(legs.src) == len(payers) * len(payees)
        assert not payers & payees
    for legs in _legs("stack"):
        layer1 = set(legs.src.tolist()) - set(legs.dst.tolist())
        layer3 = set(legs.dst.tolist()) - set(legs.src.tolist())
        layer2 = set(legs.src.tolist()) & set(legs.dst.tolist())
        assert all(2 <= len(x) <= 3 for x in (layer1, layer2, layer3))
        assert len(legs.src) == len(layer1) * len(layer2) + len(layer2) * len(layer3)
        first = legs.minute[np.isin(legs.src, list(layer1))]
        second = legs.minute[np.isin(legs.src, list(layer2))]
        assert first.max() < second.min()


def test_random_walk_never_pays_itself() -> None:
    for legs in _legs("random"):
        assert np.all(legs.src != legs.dst)
        assert 4 <= len(legs.src) <= 8
        assert np.all(legs.dst[:-1] == legs.src[1:])


def test_world_labels_rate_and_rings(small_world: World) -> None:
    tx = small_world.transactions
    bad = tx.filter(pl.col("is_laundering") == 1)
    rate = bad.height / tx.height
    assert 0.008 <= rate <= 0.013  # planted at 1 % in this fixture
    assert bad.get_column("typology").null_count() == 0
    assert bad.get_column("ring_id").null_count() == 0
    assert set(bad.get_column("typology").unique().to_list()) <= set(TYPOLOGIES)
    lawful = tx.filter(pl.col("is_laundering") == 0)
    assert lawful.get_column("typology").null_count() == lawful.height
    # Each ring carries one typology.
    assert (
        bad.group_by("ring_id").agg(pl.col("typology").n_unique()).get_column("typology").max() == 1
    )


def test_world_is_seeded() -> None:
    cfg = SynthConfig(n_transactions=3_000, days=45, seed=7)
    a, b = generate(cfg), generate(cfg)
    assert a.transactions.equals(b.transactions)
    assert not generate(SynthConfig(n_transactions=3_000, days=45, seed=8)).transactions.equals(
        a.transactions
    )


def test_world_has_lawful_behaviours(small_world: World) -> None:
    fmt = small_world.transactions.group_by("payment_format").len()
    assert {"ACH", "Credit Card", "Wire", "Reinvestment"} <= set(
        fmt.get_column("payment_format").to_list()
    )


@pytest.mark.parametrize("bad", [{"days": 10}, {"n_transactions": 5}, {"laundering_rate": 0.5}])
def test_config_rejects_bad_values(bad: dict) -> None:
    with pytest.raises(ValueError):
        SynthConfig(**bad)
