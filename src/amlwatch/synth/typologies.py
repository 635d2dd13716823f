"""The eight planted laundering typologies (see `amlwatch.synth` for their specification).

Each builder draws one ring's legs with times relative to the ring's start, in
minutes; `plant` places rings on the calendar until the laundering budget is met.
The loop is over rings (hundreds), never over lawful transactions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from amlwatch.synth.behaviours import PEER, PERSONAL, SUPPLIER, Behaviour

__all__ = ["BUILDERS", "COVERS", "TYPOLOGIES", "Legs", "Planted", "plant"]

DAY = 1440
TYPOLOGIES: tuple[str, ...] = (
    "fan_out",
    "fan_in",
    "cycle",
    "scatter_gather",
    "gather_scatter",
    "stack",
    "bipartite",
    "random",
)


@dataclass
class Legs:
    """One ring: participant slots (0..n-1), relative minutes, USD amounts and rounding codes per leg."""

    n: int
    src: np.ndarray
    dst: np.ndarray
    minute: np.ndarray
    usd: np.ndarray
    code: np.ndarray


def _days(rng: np.random.Generator, lo: float, hi: float, size: int | None = None) -> Any:
    """Whole minutes in [lo, hi) days: an int, or an int64 array when `size` is given."""
    if size is None:
        return int(rng.uniform(lo, hi) * DAY)
    return (rng.uniform(lo, hi, size) * DAY).astype(np.int64)


def _keep(rng: np.random.Generator, size: int | None = None) -> np.ndarray:
    return rng.uniform(0.95, 0.99, size)


def _split(rng: np.random.Generator, total: float, k: int) -> np.ndarray:
    return total * rng.dirichlet(np.full(k, 4.0))


def _chain(rng: np.random.Generator, cover: Behaviour, hops: int) -> tuple[np.ndarray, np.ndarray]:
    """A first amount from the cover, then each hop keeping 95-99 % of the previous one."""
    first, code = cover.amounts(rng, 1)
    usd = first[0] * np.cumprod(np.concatenate([[1.0], _keep(rng, hops - 1)]))
    return usd, np.concatenate([code, cover.rounding(rng, hops - 1)])


def _fan_out(rng: np.random.Generator, cover: Behaviour) -> Legs:
    k = int(rng.integers(5, 13))
    minute = np.sort(rng.integers(0, _days(rng, 1, 5) + 1, k))
    usd, code = cover.amounts(rng, k)
    return Legs(k + 1, np.zeros(k, np.int64), np.arange(1, k + 1), minute, usd, code)


def _fan_in(rng: np.random.Generator, cover: Behaviour) -> Legs:
    k = int(rng.integers(5, 13))
    minute = np.sort(rng.integers(0, _days(rng, 1, 5) + 1, k))
    usd, code = cover.amounts(rng, k)
    return Legs(k + 1, np.arange(1, k + 1), np.zeros(k, np.int64), minute, usd, code)


def _cycle(rng: np.random.Generator, cover: Behaviour) -> Legs:
    n = int(rng.integers(3, 7))
    minute = np.concatenate([[0], np.cumsum(_days(rng, 1, 3, n - 1))])
    usd, code = _chain(rng, cover, n)
    src = np.arange(n)
    return Legs(n, src, (src + 1) % n, minute, usd, code)


def _scatter_gather(rng: np.random.Generator, cover: Behaviour) -> Legs:
    k = int(rng.integers(3, 9))
    out_t = rng.integers(0, _days(rng, 1, 3) + 1, k)
    in_t = out_t + _days(rng, 2, 7, k)
    out_usd, out_code = cover.amounts(rng, k)
    mids = np.arange(1, k + 1)
    src = np.concatenate([np.zeros(k, np.int64), mids])
    dst = np.concatenate([mids, np.full(k, k + 1)])
    return Legs(
        k + 2,
        src,
        dst,
        np.concatenate([out_t, in_t]),
        np.concatenate([out_usd, out_usd * _keep(rng, k)]),
        np.concatenate([out_code, cover.rounding(rng, k)]),
    )


def _gather_scatter(rng: np.random.Generator, cover: Behaviour) -> Legs:
    k_in, k_out = int(rng.integers(4, 11)), int(rng.integers(4, 11))
    in_t = rng.integers(0, _days(rng, 3, 10) + 1, k_in)
    out_t = in_t.max() + rng.integers(60, _days(rng, 3, 10) + 1, k_out)
    in_usd, in_code = cover.amounts(rng, k_in)
    out_usd = _split(rng, float(in_usd.sum() * _keep(rng)), k_out)
    ins, outs = np.arange(1, k_in + 1), np.arange(k_in + 1, k_in + k_out + 1)
    src = np.concatenate([ins, np.zeros(k_out, np.int64)])
    dst = np.concatenate([np.zeros(k_in, np.int64), outs])
    return Legs(
        k_in + k_out + 1,
        src,
        dst,
        np.concatenate([in_t, out_t]),
        np.concatenate([in_usd, out_usd]),
        np.concatenate([in_code, cover.rounding(rng, k_out)]),
    )


def _layer(
    rng: np.random.Generator, a: np.ndarray, b: np.ndarray, start: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every account of `a` pays every account of `b` within one day from `start`."""
    src, dst = np.repeat(a, len(b)), np.tile(b, len(a))
    return src, dst, start + rng.integers(0, DAY, len(src))


def _stack(rng: np.random.Generator, cover: Behaviour) -> Legs:
    sizes = rng.integers(2, 4, 3)
    a = np.arange(sizes[0])
    b = np.arange(sizes[0], sizes[0] + sizes[1])
    c = np.arange(sizes[0] + sizes[1], sizes.sum())
    s1, d1, t1 = _layer(rng, a, b, 0)
    u1, c1 = cover.amounts(rng, len(s1))
    received = np.bincount(d1 - b[0], weights=u1, minlength=len(b))
    s2, d2, t2 = _layer(rng, b, c, int(t1.max() + _days(rng, 1, 4)))
    # Each middle account forwards 95-99 % of what it received, split evenly over the last layer.
    u2 = np.repeat(received, len(c)) / len(c) * _keep(rng, len(s2))
    return Legs(
        int(sizes.sum()),
        np.concatenate([s1, s2]),
        np.concatenate([d1, d2]),
        np.concatenate([t1, t2]),
        np.concatenate([u1, u2]),
        np.concatenate([c1, cover.rounding(rng, len(s2))]),
    )


def _bipartite(rng: np.random.Generator, cover: Behaviour) -> Legs:
    p, q = int(rng.integers(2, 5)), int(rng.integers(2, 5))
    src, dst = np.repeat(np.arange(p), q), np.tile(np.arange(p, p + q), p)
    minute = rng.integers(0, _days(rng, 1, 7) + 1, p * q)
    usd, code = cover.amounts(rng, p * q)
    return Legs(p + q, src, dst, minute, usd, code)


def _random(rng: np.random.Generator, cover: Behaviour) -> Legs:
    hops = int(rng.integers(4, 9))
    n = int(rng.integers(3, hops + 1))
    walk = [0]
    for _ in range(hops):
        step = int(rng.integers(1, n))  # never the current account itself
        walk.append((walk[-1] + step) % n)
    nodes = np.asarray(walk)
    minute = np.concatenate([[0], np.cumsum(_days(rng, 1, 3, hops - 1))])
    usd, code = _chain(rng, cover, hops)
    return Legs(n, nodes[:-1], nodes[1:], minute, usd, code)


BUILDERS: dict[str, Callable[[np.random.Generator, Behaviour], Legs]] = {
    "fan_out": _fan_out,
    "fan_in": _fan_in,
    "cycle": _cycle,
    "scatter_gather": _scatter_gather,
    "gather_scatter": _gather_scatter,
    "stack": _stack,
    "bipartite": _bipartite,
    "random": _random,
}


COVERS: tuple[tuple[Behaviour, float], ...] = ((PEER, 0.30), (PERSONAL, 0.45), (SUPPLIER, 0.25))
"""Each ring's cover behaviour and its probability; supplier-cover rings use companies."""
RECRUITED = 0.3
RECRUIT_DAYS = 60


@dataclass
class Planted:
    """All planted legs on the calendar; participants are account codes of the lawful population."""

    src: np.ndarray
    dst: np.ndarray
    minute: np.ndarray
    usd: np.ndarray
    code: np.ndarray
    fmt: np.ndarray
    typology: np.ndarray
    ring: np.ndarray


class _Pools:
    """Accounts by kind, sorted by opening day, for drawing a ring's participants."""

    def __init__(self, open_day: np.ndarray, is_new: np.ndarray, is_corp: np.ndarray) -> None:
        self.open_day = open_day
        self.by_kind: dict[bool, tuple[np.ndarray, np.ndarray]] = {}
        self.new_by_kind: dict[bool, tuple[np.ndarray, np.ndarray]] = {}
        for corp in (False, True):
            for table, mask in (
                (self.by_kind, is_corp == corp),
                (self.new_by_kind, (is_corp == corp) & is_new),
            ):
                ids = np.flatnonzero(mask)
                ids = ids[np.argsort(open_day[ids], kind="stable")]
                table[corp] = (ids, open_day[ids])

    def members(self, rng: np.random.Generator, n: int, *, corp: bool, day: int) -> np.ndarray:
        """`n` distinct accounts open on `day`: each recruited with probability `RECRUITED`."""
        ids, opened = self.new_by_kind[corp]
        lo, hi = np.searchsorted(opened, [day - RECRUIT_DAYS, day], side="left")
        hi = int(np.searchsorted(opened, day, side="right"))
        recruit_slots = np.flatnonzero(rng.random(n) < RECRUITED)
        k = min(len(recruit_slots), hi - int(lo))
        recruits = ids[int(lo) + rng.choice(hi - int(lo), size=k, replace=False)]
        out = np.full(n, -1, dtype=np.int64)
        out[recruit_slots[:k]] = recruits
        need = n - k
        # Any account open on the ring's day; the other kind only when this one has too few.
        pool = [
            ids_[: int(np.searchsorted(op, day, side="right"))]
            for ids_, op in (self.by_kind[corp], self.by_kind[not corp])
        ]
        chosen: list[np.ndarray] = []
        taken = set(recruits.tolist())
        for cand in pool:
            if need <= 0:
                break
            pick = cand[rng.choice(len(cand), size=min(len(cand), need + k), replace=False)]
            pick = np.asarray([a for a in pick.tolist() if a not in taken][:need], dtype=np.int64)
            chosen.append(pick)
            taken |= set(pick.tolist())
            need -= len(pick)
        if need > 0:
            raise ValueError(f"too few open accounts for a ring of {n} participants on day {day}")
        out[out < 0] = np.concatenate(chosen) if chosen else np.zeros(0, np.int64)
        return out


def plant(
    rng: np.random.Generator,
    *,
    budget: int,
    horizon: int,
    open_day: np.ndarray,
    is_new: np.ndarray,
    is_corp: np.ndarray,
) -> Planted:
    """Plant rings (typologies in equal shares, shuffled) until `budget` legs exist.

    `open_day`, `is_new` and `is_corp` describe the lawful accounts (by code): the
    day each opens, whether it opened during the period, and whether it is a company.
    """
    pools = _Pools(open_day, is_new, is_corp)
    behaviours = [c for c, _ in COVERS]
    shares = np.array([p for _, p in COVERS])
    parts: list[tuple[np.ndarray, ...]] = []
    total, ring = 0, 0
    order: list[int] = []
    while total < budget:
        if not order:
            order = list(rng.permutation(len(TYPOLOGIES)))
        kind = order.pop()
        cover = behaviours[int(rng.choice(len(behaviours), p=shares))]
        legs = BUILDERS[TYPOLOGIES[kind]](rng, cover)
        span = int(legs.minute.max())
        start = int(rng.integers(0, max(horizon - span - 1, 1)))
        members = pools.members(rng, legs.n, corp=cover is SUPPLIER, day=start // DAY)
        at = start + legs.minute
        # The cover's hours: an order-keeping squeeze of each leg's time of day.
        at = (at // DAY) * DAY + cover.squeeze(at % DAY)
        k = len(legs.src)
        parts.append(
            (
                members[legs.src],
                members[legs.dst],
                at,
                legs.usd,
                legs.code,
                cover.formats_of(rng, k),
                np.full(k, kind, np.int8),
                np.full(k, ring, np.int64),
            )
        )
        total += k
        ring += 1
    if not parts:
        empty = np.zeros(0, np.int64)
        return Planted(
            empty,
            empty,
            empty,
            np.zeros(0),
            np.zeros(0, np.int16),
            np.zeros(0, np.int8),
            np.zeros(0, np.int8),
            empty,
        )
    cols = [np.concatenate(c) for c in zip(*parts, strict=True)]
    return Planted(*cols)
