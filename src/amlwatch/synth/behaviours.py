"""Payment behaviours: the amount, rounding, format and hour mixes of `amlwatch.synth`'s spec.

One `Behaviour` value serves both a lawful behaviour and the laundering rings that
use it as cover, so the two draw from the very same distributions by construction.
Amounts are drawn in USD; each leg also gets a *rounding code* applied later in
the payment currency (`ROUND_NONE`, a unit such as 10 / 100 / 1,000, or
`NEAR_THRESHOLD`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "BEHAVIOURS",
    "BILLS",
    "FORMATS",
    "NEAR_THRESHOLD",
    "PEER",
    "PERSONAL",
    "ROUND_NONE",
    "SUPPLIER",
    "Behaviour",
    "fmt_code",
]

FORMATS = ("ACH", "Wire", "Cheque", "Cash", "Credit Card", "Reinvestment", "Bitcoin")
ROUND_NONE = 0
NEAR_THRESHOLD = -1
NEAR_RANGE = (9_000.0, 9_990.0)
"""Near-threshold amounts, in the payment currency (just under a 10,000 reporting threshold)."""


def fmt_code(name: str) -> int:
    """Index of a payment format in `FORMATS`."""
    return FORMATS.index(name)


@dataclass(frozen=True)
class Behaviour:
    """Amounts lognormal(median, sigma) USD; `round_p` of them rounded to `round_to`, `near_p` near-threshold."""

    name: str
    median: float
    sigma: float
    formats: dict[str, float]
    hours: tuple[int, int]
    round_to: int = 0
    round_p: float = 0.0
    near_p: float = 0.0

    def __post_init__(self) -> None:
        if abs(sum(self.formats.values()) - 1.0) > 1e-9:
            raise ValueError(f"{self.name}: format shares must sum to 1")
        if not 0 <= self.hours[0] < self.hours[1] <= 24:
            raise ValueError(f"{self.name}: hours must satisfy 0 <= lo < hi <= 24")

    def amounts(self, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Source amounts (USD) and their rounding codes: lognormal, rounded or near-threshold."""
        usd = rng.lognormal(np.log(self.median), self.sigma, size)
        near = rng.random(size) < self.near_p
        usd[near] = rng.uniform(*NEAR_RANGE, int(near.sum()))
        return usd, np.where(near, NEAR_THRESHOLD, self.rounding(rng, size)).astype(np.int16)

    def rounding(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Rounding codes only (`round_to` with probability `round_p`): for forwarded amounts."""
        rounded = rng.random(size) < self.round_p
        return np.where(rounded, self.round_to, ROUND_NONE).astype(np.int16)

    def formats_of(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Format codes (indices of `FORMATS`) by the behaviour's mix."""
        codes = np.array([fmt_code(f) for f in self.formats], dtype=np.int8)
        return rng.choice(codes, size=size, p=np.array(list(self.formats.values())))

    def minute_of_day(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Uniform minutes inside the behaviour's hours."""
        return rng.integers(self.hours[0] * 60, self.hours[1] * 60, size)

    def squeeze(self, minute_of_day: np.ndarray) -> np.ndarray:
        """Map minutes uniform over the day into the behaviour's hours, keeping their order."""
        lo, hi = self.hours[0] * 60, self.hours[1] * 60
        return lo + (minute_of_day * (hi - lo)) // 1440


BILLS = Behaviour(
    "bills", 90.0, 0.5, {"ACH": 0.80, "Credit Card": 0.15, "Cheque": 0.05}, hours=(6, 22)
)
PEER = Behaviour(
    "peer",
    80.0,
    0.9,
    {"ACH": 0.55, "Cash": 0.20, "Wire": 0.10, "Cheque": 0.05, "Bitcoin": 0.10},
    hours=(0, 24),
    round_to=10,
    round_p=0.3,
)
PERSONAL = Behaviour(
    "personal",
    1500.0,
    1.0,
    {"ACH": 0.35, "Wire": 0.25, "Cheque": 0.15, "Cash": 0.15, "Bitcoin": 0.10},
    hours=(8, 20),
    round_to=100,
    round_p=0.4,
    near_p=0.05,
)
SUPPLIER = Behaviour(
    "supplier",
    5000.0,
    0.8,
    {"Wire": 0.35, "ACH": 0.35, "Cheque": 0.22, "Bitcoin": 0.05, "Cash": 0.03},
    hours=(9, 17),
    round_to=1000,
    round_p=0.2,
    near_p=0.03,
)
BEHAVIOURS: dict[str, Behaviour] = {b.name: b for b in (BILLS, PEER, PERSONAL, SUPPLIER)}
