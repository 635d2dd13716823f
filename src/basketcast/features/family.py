"""What a feature family is: its columns, the statistics it shares across users, and its per-user transform."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl

from basketcast.features.history import History

__all__ = ["FamilyContractError", "FeatureFamily", "Scope", "StatPlans", "Stats", "join_on"]

Stats = Mapping[str, pl.DataFrame]
"""One family's fitted statistics: named, collected Polars frames (empty for a purely per-user family)."""

StatPlans = dict[str, pl.LazyFrame]
"""What `FeatureFamily.fit` returns: the statistics as plans, collected together by the assembler."""


class Scope(enum.StrEnum):
    """What one row of a family's own statistics or values describes."""

    USER = "user"
    PRODUCT = "product"
    USER_PRODUCT = "user_product"
    CATEGORY = "category"
    CONTEXT = "context"
    ORDER = "order"


class FamilyContractError(ValueError):
    """A family's transform added columns other than the ones it describes."""


@dataclass(frozen=True, eq=False)
class FeatureFamily:
    """A named group of features, and how to compute them.

    Attributes
    ----------
    name
        Unique; what `features.exclude` and leave-one-family-out name.
    scope
        What the family's values are keyed by (`Scope`).
    keys
        The columns the family's values are joined to the candidate frame on.
    columns
        Every column the transform adds, in frame order, with a one-line description.
    needs
        Columns of *other* families the transform reads from the frame it is
        given; the assembler computes their families first (and drops them
        again from the output when they are excluded).
    needs_products
        The family is skipped when the data has no products table.
    default_on
        False for an opt-in family: computed only when `features.include`
        names it (a family goes on by default only where the ablation
        benchmark shows it helps on real data).
    joins_product_stats
        Its statistics with a ``product_id`` column are only joined to rows on
        ``product_id``, so the statistics of the rows' own products give the
        same rows (`basketcast serve` slices them for a few users). False where
        a statistic is read as a whole, e.g. a neighbour index over every user.

    A subclass overrides `fit` when the family has statistics shared across
    users (product, aisle or day-of-week profiles), and `transform`.
    """

    name: str
    scope: Scope
    keys: tuple[str, ...]
    columns: Mapping[str, str] = field(hash=False)
    needs: tuple[str, ...] = ()
    needs_products: bool = False
    default_on: bool = True
    joins_product_stats: bool = False

    def fit(self, history: History) -> StatPlans:
        """The statistics shared across users, from every user's visible history of one depth.

        Parameters
        ----------
        history
            The visible history of *all* users at one depth.

        Returns
        -------
        dict of str to pl.LazyFrame
            Named plans; the assembler collects them. Empty when the family has none.
        """
        return {}

    def transform(self, frame: pl.LazyFrame, history: History, stats: Stats) -> pl.LazyFrame:
        """``frame`` (candidate rows of some users) with this family's `columns` added.

        Parameters
        ----------
        frame
            Candidate rows (the id columns of `basketcast.frame`) and the columns
            of the families computed before, in their row order; that order must be kept.
        history
            The visible history of the users in ``frame`` (and possibly more users).
        stats
            This family's statistics from `fit` (fitted on every user).

        Each value of a row must depend only on that user's history and
        ``stats``, so that a shard of users, one user, and everyone give the
        same rows.
        """
        raise NotImplementedError(f"feature family {self.name!r} has no transform")

    def available(self, history: History) -> bool:
        """False when the inputs the family reads are absent (no products table)."""
        return history.products is not None or not self.needs_products


def join_on(frame: pl.LazyFrame, values: pl.LazyFrame, keys: list[str] | str) -> pl.LazyFrame:
    """Left join that keeps the candidate frame's row order (every family joins this way)."""
    return frame.join(values, on=keys, how="left", maintain_order="left")
