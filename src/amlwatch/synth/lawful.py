"""The lawful behaviours of `amlwatch.synth`'s specification, vectorised with NumPy."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import numpy as np

from amlwatch.synth.behaviours import (
    BILLS,
    PEER,
    PERSONAL,
    ROUND_NONE,
    SUPPLIER,
    Behaviour,
    fmt_code,
)
from amlwatch.synth.typologies import DAY

if TYPE_CHECKING:
    from amlwatch.synth.generate import SynthConfig

__all__ = ["CARD", "Legs", "lawful"]

CARD = Behaviour("card", 40.0, 0.8, {"Credit Card": 1.0}, hours=(8, 22))
_ACH, _REINVEST = fmt_code("ACH"), fmt_code("Reinvestment")


class Legs:
    """Accumulates legs: account codes, minute, USD amount, rounding code, format code."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(
        self,
        src: np.ndarray,
        dst: np.ndarray,
        minute: np.ndarray,
        usd: np.ndarray,
        fmt: np.ndarray | int,
        code: np.ndarray | int = ROUND_NONE,
    ) -> None:
        n = len(src)
        fmt_arr = np.full(n, fmt, np.int8) if isinstance(fmt, int) else fmt.astype(np.int8)
        code_arr = np.full(n, code, np.int16) if isinstance(code, int) else code.astype(np.int16)
        self.parts.append(
            (
                src.astype(np.int64),
                dst.astype(np.int64),
                minute.astype(np.int64),
                usd.astype(np.float64),
                code_arr,
                fmt_arr,
            )
        )

    def add_behaviour(
        self,
        rng: np.random.Generator,
        behaviour: Behaviour,
        src: np.ndarray,
        dst: np.ndarray,
        day: np.ndarray,
    ) -> None:
        """Legs on the given days with the behaviour's amounts, rounding, formats and hours."""
        usd, code = behaviour.amounts(rng, len(src))
        minute = day * DAY + behaviour.minute_of_day(rng, len(src))
        self.add(src, dst, minute, usd, behaviour.formats_of(rng, len(src)), code)

    def arrays(self) -> list[np.ndarray]:
        return [np.concatenate(c) for c in zip(*self.parts, strict=True)]


def _monthly(cfg: SynthConfig, day_of_month: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row index, day offset) of each month's `day_of_month` (0-based) inside the period."""
    rows, offsets = [], []
    first = dt.date(cfg.start.year, cfg.start.month, 1)
    while (first - cfg.start).days < cfg.days:
        base = (first - cfg.start).days
        day = base + day_of_month
        ok = (day >= 0) & (day < cfg.days)
        rows.append(np.nonzero(ok)[0])
        offsets.append(day[ok])
        first = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return np.concatenate(rows), np.concatenate(offsets)


def _salaries(
    rng: np.random.Generator,
    cfg: SynthConfig,
    n_ind: int,
    corp: np.ndarray,
    employers: np.ndarray,
    legs: Legs,
) -> None:
    days = cfg.days
    employed = np.nonzero(rng.random(n_ind) < 0.7)[0]
    boss = rng.choice(employers, size=len(employed))
    # Per-employer payday and hour, looked up by position in `corp` (codes are contiguous).
    payday = np.zeros(len(corp), np.int64)
    pay_hour = np.zeros(len(corp), np.int64)
    payday[employers - corp[0]] = rng.choice([0, 14, 27], size=len(employers))
    pay_hour[employers - corp[0]] = rng.integers(7, 12, size=len(employers))
    late = rng.choice(employers, size=max(1, len(employers) // 20), replace=False)
    salary = _lognormal(rng, 3000.0, 0.4, len(employed))
    row, day = _monthly(cfg, payday[boss - corp[0]])
    keep = ~np.isin(boss[row], late) | (day >= days // 2)
    row, day = row[keep], day[keep]
    minute = day * DAY + pay_hour[boss[row] - corp[0]] * 60 + rng.integers(0, 5, len(row))
    legs.add(boss[row], employed[row], minute, salary[row], _ACH, 10)
    # Payroll bursts: a one-off bonus to every employee of 5 % of employers.
    bonus_boss = rng.choice(employers, size=max(1, len(employers) // 20), replace=False)
    bonus_day = np.zeros(len(corp), np.int64)
    bonus_day[bonus_boss - corp[0]] = rng.integers(0, days, len(bonus_boss))
    sel = np.nonzero(np.isin(boss, bonus_boss))[0]
    legs.add(
        boss[sel],
        employed[sel],
        bonus_day[boss[sel] - corp[0]] * DAY + 10 * 60 + rng.integers(0, 30, len(sel)),
        _lognormal(rng, 1000.0, 0.3, len(sel)),
        _ACH,
        100,
    )


def _lognormal(rng: np.random.Generator, median: float, sigma: float, size: int) -> np.ndarray:
    return rng.lognormal(np.log(median), sigma, size)


def lawful(
    rng: np.random.Generator, cfg: SynthConfig, n_ind: int, n_corp: int, open_day: np.ndarray
) -> list[np.ndarray]:
    """Every lawful leg as (src, dst, minute, usd, rounding code, format code) arrays.

    A leg is dropped when either account has not opened by its day.
    """
    legs = Legs()
    days = cfg.days
    corp = n_ind + np.arange(n_corp)
    kind = rng.choice(3, size=n_corp, p=[0.35, 0.05, 0.60])  # shop, utility, business
    shops, utilities, employers = corp[kind == 0], corp[kind == 1], corp[kind != 0]
    if len(utilities) < 4:
        utilities = corp[:4]
    _salaries(rng, cfg, n_ind, corp, employers, legs)
    # Bills: 2-4 utilities per individual, monthly on the individual's own day (± 2).
    n_bills = rng.integers(2, 5, n_ind)
    payer = np.repeat(np.arange(n_ind), n_bills)
    biller = rng.choice(utilities, size=len(payer))
    bill_usd = _lognormal(rng, BILLS.median, BILLS.sigma, len(payer))
    row, day = _monthly(cfg, rng.integers(2, 26, len(payer)))
    day = np.clip(day + rng.integers(-2, 3, len(day)), 0, days - 1)
    legs.add(
        payer[row],
        biller[row],
        day * DAY + BILLS.minute_of_day(rng, len(row)),
        bill_usd[row] * rng.uniform(0.9, 1.1, len(row)),
        BILLS.formats_of(rng, len(row)),
    )
    # Card spending at shops by Zipf popularity.
    n_card = int(rng.poisson(0.5 * days * n_ind))
    popularity = 1.0 / np.arange(1, len(shops) + 1) ** 1.2
    who = rng.integers(0, n_ind, n_card)
    where = rng.choice(shops, size=n_card, p=popularity / popularity.sum())
    legs.add_behaviour(rng, CARD, who, where, rng.integers(0, days, n_card))
    # Peer transfers among friends.
    friends = rng.integers(0, n_ind, (n_ind, 4))
    n_peer = int(rng.poisson(0.05 * days * n_ind))
    who = rng.integers(0, n_ind, n_peer)
    to = friends[who, rng.integers(0, 4, n_peer)]
    ok = to != who
    legs.add_behaviour(rng, PEER, who[ok], to[ok], rng.integers(0, days, int(ok.sum())))
    # Large personal payments to any individual or company.
    n_big = int(rng.poisson(0.02 * days * n_ind))
    who = rng.integers(0, n_ind, n_big)
    to = np.where(
        rng.random(n_big) < 0.5, rng.integers(0, n_ind, n_big), rng.choice(corp, size=n_big)
    )
    ok = to != who
    legs.add_behaviour(rng, PERSONAL, who[ok], to[ok], rng.integers(0, days, int(ok.sum())))
    # Suppliers: each company pays 3-8 suppliers about twice a month.
    n_sup = rng.integers(3, 9, n_corp)
    buyer = np.repeat(corp, n_sup)
    seller = rng.choice(corp, size=len(buyer))
    ok = seller != buyer
    buyer, seller = buyer[ok], seller[ok]
    times = rng.poisson(2.0 * days / 30.0, len(buyer))
    b2, s2 = np.repeat(buyer, times), np.repeat(seller, times)
    legs.add_behaviour(rng, SUPPLIER, b2, s2, rng.integers(0, days, len(b2)))
    # Reinvestment: 10 % of companies move money to themselves weekly.
    rein = rng.choice(corp, size=max(1, n_corp // 10), replace=False)
    weeks = np.arange(0, days, 7)
    who = np.repeat(rein, len(weeks))
    day = np.tile(weeks, len(rein)) + np.repeat(rng.integers(0, 7, len(rein)), len(weeks))
    ok = day < days
    legs.add(
        who[ok],
        who[ok],
        day[ok] * DAY + 23 * 60,
        _lognormal(rng, 2000.0, 0.5, int(ok.sum())),
        _REINVEST,
    )
    src, dst, minute, usd, code, fmt = legs.arrays()
    day_of = minute // DAY
    live = (open_day[src] <= day_of) & (open_day[dst] <= day_of)
    return [a[live] for a in (src, dst, minute, usd, code, fmt)]
