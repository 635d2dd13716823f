"""The ordered registry of feature families, as values: lookup by family name or by column.

Nothing registers itself on import; the registry is the tuple below. Its
order is the column order of the item frame, which the models' column
sampling depends on: add a new family at the end, so that earlier runs
reproduce.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from basketcast.features.category import CATEGORY
from basketcast.features.context import CONTEXT
from basketcast.features.day_gap import DAY_GAP
from basketcast.features.embedding import EMBEDDING
from basketcast.features.family import FeatureFamily, Scope
from basketcast.features.item_pattern import ITEM_PATTERN
from basketcast.features.order import ORDER
from basketcast.features.product import PRODUCT
from basketcast.features.product_facts import PRODUCT_FACTS
from basketcast.features.substitutes import SUBSTITUTES
from basketcast.features.tifu import TIFU
from basketcast.features.user import USER
from basketcast.features.user_product import USER_PRODUCT

__all__ = ["REGISTRY", "Registry", "describe"]


@dataclass(frozen=True)
class Registry:
    """An ordered, immutable collection of families with unique names and column names."""

    families: tuple[FeatureFamily, ...]

    def __post_init__(self) -> None:
        names = [f.name for f in self.families]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"feature families named twice: {twice}")
        owner: dict[str, str] = {}
        for family in self.families:
            for column in family.columns:
                if column in owner:
                    raise ValueError(
                        f"column {column!r} is described by both {owner[column]!r} and "
                        f"{family.name!r}"
                    )
                owner[column] = family.name

    def __iter__(self) -> Iterator[FeatureFamily]:
        return iter(self.families)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.families]

    @property
    def item_families(self) -> tuple[FeatureFamily, ...]:
        """The families of the item frame (every scope but `order`), in column order."""
        return tuple(f for f in self.families if f.scope is not Scope.ORDER)

    def family(self, name: str) -> FeatureFamily:
        """The family called ``name``; a `KeyError` lists the known names."""
        for family in self.families:
            if family.name == name:
                return family
        raise KeyError(f"no feature family {name!r}; the families are {self.names}")

    def family_of(self, column: str) -> FeatureFamily:
        """The family that describes ``column``."""
        for family in self.families:
            if column in family.columns:
                return family
        raise KeyError(f"no feature family describes the column {column!r}")

    def descriptions(self) -> dict[str, str]:
        """Every column of every family with its one-line description, in registry order."""
        return {c: d for f in self.families for c, d in f.columns.items()}

    def describe(self, column: str) -> str:
        """The column's description, or "" when no family describes it."""
        for family in self.families:
            if column in family.columns:
                return family.columns[column]
        return ""

    def without(self, exclude: Iterable[str]) -> Registry:
        """This registry less the families named in ``exclude`` (each must exist)."""
        drop = set(exclude)
        unknown = sorted(drop - set(self.names))
        if unknown:
            raise ValueError(
                f"features.exclude names unknown feature families {unknown}; "
                f"the families are {self.names}"
            )
        return Registry(tuple(f for f in self.families if f.name not in drop))

    def chosen(self, *, include: Iterable[str] = (), exclude: Iterable[str] = ()) -> Registry:
        """The families a configuration switches on: the default-on ones and the opt-in
        ones named in ``include`` (`FeatureFamily.default_on`), less ``exclude``."""
        wanted = set(include)
        unknown = sorted(wanted - set(self.names))
        if unknown:
            raise ValueError(
                f"features.include names unknown feature families {unknown}; "
                f"the opt-in families are {[f.name for f in self.families if not f.default_on]}"
            )
        kept = self.without(exclude)  # checks the excluded names too
        return Registry(tuple(f for f in kept.families if f.default_on or f.name in wanted))


REGISTRY = Registry(
    (
        CONTEXT,
        CATEGORY,
        USER,
        PRODUCT,
        USER_PRODUCT,
        ITEM_PATTERN,
        DAY_GAP,
        TIFU,
        PRODUCT_FACTS,
        SUBSTITUTES,
        EMBEDDING,
        ORDER,
    )
)
"""Every feature family basketcast has, in item-frame column order (the order family last).
`ITEM_PATTERN`, `DAY_GAP`, `TIFU`, `PRODUCT_FACTS`, `SUBSTITUTES` and `EMBEDDING` are opt-in
(``default_on=False``)."""


def describe(column: str) -> str:
    """The one-line description of a feature column ("" when unknown)."""
    return REGISTRY.describe(column)
