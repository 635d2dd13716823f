"""The validated order history (`Dataset`) and the error that lists what is wrong (`DataError`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

__all__ = ["DataError", "Dataset", "Problem"]


@dataclass(frozen=True)
class Problem:
    """One broken rule: where it is, what is wrong, how many rows, a few examples."""

    file: str
    column: str
    message: str
    count: int = 0
    examples: tuple[str, ...] = ()

    def __str__(self) -> str:
        where = f"{self.file}: column {self.column!r}" if self.column else self.file
        text = f"{where}: {self.message}"
        if self.count:
            text += f" ({self.count:,} {'row' if self.count == 1 else 'rows'})"
        if self.examples:
            text += "; e.g. " + "; ".join(self.examples)
        return text


class DataError(ValueError):
    """Raised once with *every* problem found in an input, never just the first."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...], *, source: str = "") -> None:
        self.problems = tuple(problems)
        self.source = source
        head = f"{len(self.problems)} problem(s) in {source or 'the input'}:"
        super().__init__("\n".join([head, *(f"  - {p}" for p in self.problems)]))


@dataclass(frozen=True)
class Dataset:
    """A validated order history in the Instacart layout.

    Tables are collected, typed as in `basketcast.data.schema`; `products`,
    `aisles` and `departments` are None when the input did not have them.
    `warnings` holds findings that are reported but are not errors (for
    example a `reordered` column that disagrees with the history).
    """

    orders: pl.DataFrame
    prior: pl.DataFrame
    train: pl.DataFrame
    products: pl.DataFrame | None = None
    aisles: pl.DataFrame | None = None
    departments: pl.DataFrame | None = None
    warnings: tuple[str, ...] = field(default=())

    @property
    def n_users(self) -> int:
        return self.orders.get_column("user_id").n_unique()

    def target_orders(self) -> pl.DataFrame:
        """Each user's last order (eval_set train or test)."""
        return self.orders.filter(pl.col("eval_set") != "prior")
