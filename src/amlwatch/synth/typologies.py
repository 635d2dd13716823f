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

__all__ = ["TYPOLOGIES", "Legs", "plant"]

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
    """One ring: participant slots (0..n-1), relative minutes and USD amounts per leg."""

    n: int
    src: np.ndarray
    dst: np.ndarray
    minute: np.ndarray
    usd: np.ndarray


def _days(rng: np.random.Generator, lo: float, hi: float, size: int | None = None) -> Any:
    """Whole minutes in [lo, hi) days: an int, or an int64 array when `size` is given."""
    if size is None:
        return int(rng.uniform(lo, hi) * DAY)
    return (rng.uniform(lo, hi, size) * DAY).astype(np.int64)


def _first(rng: np.random.Generator, size: int) -> np.ndarray:
    return rng.lognormal(np.log(8000.0), 0.6, size)


def _keep(rng: np.random.Generator, size: int | None = None) -> np.ndarray:
    return rng.uniform(0.95, 0.99, size)


def _split(rng: np.random.Generator, total: float, k: int) -> np.ndarray:
    return total * rng.dirichlet(np.full(k, 4.0))


def _fan_out(rng: np.random.Generator) -> Legs:
    k = int(rng.integers(5, 13))
    minute = np.sort(rng.integers(0, _days(rng, 1, 5) + 1, k))
    return Legs(k + 1, np.zeros(k, np.int64), np.arange(1, k + 1), minute, _first(rng, k))


def _fan_in(rng: np.random.Generator) -> Legs:
    k = int(rng.integers(5, 13))
    minute = np.sort(rng.integers(0, _days(rng, 1, 5) + 1, k))
    return Legs(k + 1, np.arange(1, k + 1), np.zeros(k, np.int64), minute, _first(rng, k))


def _cycle(rng: np.random.Generator) -> Legs:
    n = int(rng.integers(3, 7))
    minute = np.concatenate([[0], np.cumsum(_days(rng, 1, 3, n - 1))])
    usd = _first(rng, 1)[0] * np.cumprod(np.concatenate([[1.0], _keep(rng, n - 1)]))
    src = np.arange(n)
    return Legs(n, src, (src + 1) % n, minute, usd)


def _scatter_gather(rng: np.random.Generator) -> Legs:
    k = int(rng.integers(3, 9))
    out_t = rng.integers(0, _days(rng, 1, 3) + 1, k)
    in_t = out_t + _days(rng, 2, 7, k)
    out_usd = _first(rng, k)
    mids = np.arange(1, k + 1)
    src = np.concatenate([np.zeros(k, np.int64), mids])
    dst = np.concatenate([mids, np.full(k, k + 1)])
    return Legs(
        k + 2,
        src,
        dst,
        np.concatenate([out_t, in_t]),
        np.concatenate([out_usd, out_usd * _keep(rng, k)]),
    )


def _gather_scatter(rng: np.random.Generator) -> Legs:
    k_in, k_out = int(rng.integers(4, 11)), int(rng.integers(4, 11))
    in_t = rng.integers(0, _days(rng, 3, 10) + 1, k_in)
    out_t = in_t.max() + rng.integers(60, _days(rng, 3, 10) + 1, k_out)
    in_usd = _first(rng, k_in)
    out_usd = _split(rng, float(in_usd.sum() * _keep(rng)), k_out)
    ins, outs = np.arange(1, k_in + 1), np.arange(k_in + 1, k_in + k_out + 1)
    src = np.concatenate([ins, np.zeros(k_out, np.int64)])
    dst = np.concatenate([np.zeros(k_in, np.int64), outs])
    return Legs(
        k_in + k_out + 1, src, dst, np.concatenate([in_t, out_t]), np.concatenate([in_usd, out_usd])
    )


def _layers(
    rng: np.random.Generator, a: np.ndarray, b: np.ndarray, start: int, usd_in: np.ndarray
) -> tuple[np.ndarray, ...]:
    src, dst = np.repeat(a, len(b)), np.tile(b, len(a))
    minute = start + rng.integers(0, DAY, len(src))
    usd = np.repeat(usd_in, len(b)) / len(b) * _keep(rng, len(src))
    return src, dst, minute, usd


def _stack(rng: np.random.Generator) -> Legs:
    sizes = rng.integers(2, 4, 3)
    a = np.arange(sizes[0])
    b = np.arange(sizes[0], sizes[0] + sizes[1])
    c = np.arange(sizes[0] + sizes[1], sizes.sum())
    s1, d1, t1, u1 = _layers(rng, a, b, 0, _first(rng, len(a)))
    received = np.bincount(d1 - b[0], weights=u1, minlength=len(b))
    s2, d2, t2, u2 = _layers(rng, b, c, int(t1.max() + _days(rng, 1, 4)), received)
    return Legs(
        int(sizes.sum()),
        np.concatenate([s1, s2]),
        np.concatenate([d1, d2]),
        np.concatenate([t1, t2]),
        np.concatenate([u1, u2]),
    )


def _bipartite(rng: np.random.Generator) -> Legs:
    p, q = int(rng.integers(2, 5)), int(rng.integers(2, 5))
    src, dst = np.repeat(np.arange(p), q), np.tile(np.arange(p, p + q), p)
    minute = rng.integers(0, _days(rng, 1, 7) + 1, p * q)
    return Legs(p + q, src, dst, minute, _first(rng, p * q))


def _random(rng: np.random.Generator) -> Legs:
    hops = int(rng.integers(4, 9))
    n = int(rng.integers(3, hops + 1))
    walk = [0]
    for _ in range(hops):
        step = int(rng.integers(1, n))  # never the current account itself
        walk.append((walk[-1] + step) % n)
    nodes = np.asarray(walk)
    minute = np.concatenate([[0], np.cumsum(_days(rng, 1, 3, hops - 1))])
    usd = _first(rng, 1)[0] * np.cumprod(np.concatenate([[1.0], _keep(rng, hops - 1)]))
    return Legs(n, nodes[:-1], nodes[1:], minute, usd)


BUILDERS: dict[str, Callable[[np.random.Generator], Legs]] = {
    "fan_out": _fan_out,
    "fan_in": _fan_in,
    "cycle": _cycle,
    "scatter_gather": _scatter_gather,
    "gather_scatter": _gather_scatter,
    "stack": _stack,
    "bipartite": _bipartite,
    "random": _random,
}


@dataclass
class Planted:
    """All planted legs on the calendar; participants are account codes (mules numbered after `n_existing`)."""

    src: np.ndarray
    dst: np.ndarray
    minute: np.ndarray
    usd: np.ndarray
    typology: np.ndarray
    ring: np.ndarray
    n_mules: int


def plant(rng: np.random.Generator, *, budget: int, n_existing: int, horizon: int) -> Planted:
    """Plant rings (typologies in equal shares, shuffled) until `budget` legs exist."""
    parts: list[tuple[np.ndarray, ...]] = []
    total, ring, mules = 0, 0, 0
    order: list[int] = []
    while total < budget:
        if not order:
            order = list(rng.permutation(len(TYPOLOGIES)))
        kind = order.pop()
        legs = BUILDERS[TYPOLOGIES[kind]](rng)
        span = int(legs.minute.max())
        start = int(rng.integers(0, max(horizon - span - 1, 1)))
        members = rng.choice(n_existing, size=legs.n, replace=False).astype(np.int64)
        new = rng.random(legs.n) < 0.5
        members[new] = n_existing + mules + np.arange(int(new.sum()))
        mules += int(new.sum())
        k = len(legs.src)
        parts.append(
            (
                members[legs.src],
                members[legs.dst],
                start + legs.minute,
                legs.usd,
                np.full(k, kind, np.int8),
                np.full(k, ring, np.int64),
            )
        )
        total += k
        ring += 1
    if not parts:
        empty = np.zeros(0, np.int64)
        return Planted(empty, empty, empty, np.zeros(0), np.zeros(0, np.int8), empty, n_mules=0)
    src, dst, minute, usd, typ, rings = (np.concatenate(c) for c in zip(*parts, strict=True))
    return Planted(src, dst, minute, usd, typ, rings, n_mules=mules)
