"""Known answers for the generator: each typology emits the structure its spec claims."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from amlwatch.synth import SynthConfig, World, generate
from amlwatch.synth.behaviours import FORMATS, NEAR_THRESHOLD, PERSONAL, SUPPLIER
from amlwatch.synth.typologies import (
    BUILDERS,
    COVERS,
    DAY,
    RECRUIT_DAYS,
    RECRUITED,
    TYPOLOGIES,
    _Pools,
)

SEEDS = range(40)


def _legs(kind: str):
    # Every cover in turn: a typology's structure must not depend on its cover.
    return [BUILDERS[kind](np.random.default_rng(s), COVERS[s % len(COVERS)][0]) for s in SEEDS]


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


def test_behaviour_amounts_follow_their_stated_mix() -> None:
    usd, code = PERSONAL.amounts(np.random.default_rng(0), 200_000)
    near = code == NEAR_THRESHOLD
    assert abs(near.mean() - PERSONAL.near_p) < 0.003
    assert np.all((usd[near] >= 9000) & (usd[near] <= 9990))
    assert abs((code[~near] == PERSONAL.round_to).mean() - PERSONAL.round_p) < 0.005
    assert abs(np.median(usd[~near]) / PERSONAL.median - 1.0) < 0.02
    fmt = SUPPLIER.formats_of(np.random.default_rng(1), 200_000)
    btc = FORMATS.index("Bitcoin")
    assert abs((fmt == btc).mean() - SUPPLIER.formats["Bitcoin"]) < 0.003


def test_squeeze_keeps_order_inside_the_cover_hours() -> None:
    minute = np.arange(DAY)
    squeezed = SUPPLIER.squeeze(minute)
    assert squeezed.min() == SUPPLIER.hours[0] * 60 and squeezed.max() < SUPPLIER.hours[1] * 60
    assert np.all(np.diff(squeezed) >= 0)


def test_no_single_field_gives_laundering_away(small_world: World) -> None:
    """Revision 2's hard negatives: every format, round and near-threshold amount is mostly lawful."""
    tx = small_world.transactions.with_columns(
        ((pl.col("amount_paid") >= 9000) & (pl.col("amount_paid") < 10_000)).alias("near"),
        ((pl.col("amount_paid") % 100 == 0) & (pl.col("amount_paid") > 0)).alias("round_100"),
    )
    by_format = tx.group_by("payment_format").agg(
        pl.col("is_laundering").sum().alias("bad"), (1 - pl.col("is_laundering")).sum().alias("ok")
    )
    assert {"Bitcoin", "Cash", "Wire", "Cheque", "ACH"} <= set(
        by_format.get_column("payment_format").to_list()
    )
    # At a 1 % laundering rate, lawful traffic outnumbers laundering in every format.
    assert by_format.filter(pl.col("ok") < 3 * pl.col("bad")).height == 0
    for flag in ("near", "round_100"):
        part = tx.filter(pl.col(flag))
        lawful = part.filter(pl.col("is_laundering") == 0).height
        assert lawful > 0 and lawful >= 3 * (part.height - lawful)


def test_laundering_accounts_are_ordinary_accounts(small_world: World) -> None:
    tx = small_world.transactions
    bad = tx.filter(pl.col("is_laundering") == 1)
    ok = tx.filter(pl.col("is_laundering") == 0)
    accounts = lambda f: set(f.get_column("from_account")) | set(f.get_column("to_account"))  # noqa: E731
    crooked, lawful = accounts(bad), accounts(ok)
    assert len(crooked & lawful) >= 0.95 * len(crooked)  # no idle mule accounts


def test_some_accounts_open_during_the_period(small_world: World) -> None:
    tx = small_world.transactions
    legs = pl.concat(
        [
            tx.select("timestamp", pl.col("from_account").alias("account")),
            tx.select("timestamp", pl.col("to_account").alias("account")),
        ]
    )
    first = legs.group_by("account").agg(pl.col("timestamp").min())
    start = tx.get_column("timestamp").min()
    late = (first.get_column("timestamp") - start).dt.total_days() >= small_world.config.days // 2
    # 15 % open on a uniform day, so about 7.5 % open in the second half.
    assert 0.04 <= late.mean() <= 0.11


def test_ring_members_are_open_distinct_and_of_the_cover_kind() -> None:
    rng = np.random.default_rng(0)
    n = 2000
    is_new = rng.random(n) < 0.15
    open_day = np.where(is_new, rng.integers(0, 120, n), 0)
    is_corp = np.arange(n) >= 1800
    pools = _Pools(open_day, is_new, is_corp)
    recruited = total = 0
    for day in range(0, 120, 3):
        for corp in (False, True):
            m = pools.members(rng, 12, corp=corp, day=day)
            assert len(set(m.tolist())) == 12
            assert np.all(open_day[m] <= day) and np.all(is_corp[m] == corp)
            fresh = is_new[m] & (open_day[m] >= day - RECRUIT_DAYS)
            recruited += int(fresh.sum())
            total += 12
    # 30 % recruited by draw, plus the few new accounts drawn as "any open account".
    assert RECRUITED <= recruited / total <= RECRUITED + 0.12
