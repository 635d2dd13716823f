"""The temporal split: first 60 % of transactions by time train, next 20 % validate, last 20 % test."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Split", "temporal_split"]


@dataclass(frozen=True)
class Split:
    """Row ranges of a frame in ledger order (timestamp, then file order)."""

    train: slice
    valid: slice
    test: slice


def temporal_split(
    n_rows: int, *, fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
) -> Split:
    """Cut `n_rows` rows, already in ledger order, by position into train / valid / test.

    Cutting by position keeps the shares exact even when many transactions
    share a minute; every training row is at or before every validation row.
    """
    if len(fractions) != 3 or any(f <= 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"fractions must be three positive shares summing to 1, got {fractions}")
    if n_rows < 3:
        raise ValueError(f"need at least 3 rows to split, got {n_rows}")
    a = round(n_rows * fractions[0])
    b = round(n_rows * (fractions[0] + fractions[1]))
    return Split(slice(0, a), slice(a, b), slice(b, n_rows))
