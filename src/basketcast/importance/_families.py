"""Which family each feature column belongs to, and named groups of columns to drop together."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from basketcast.errors import UsageError

__all__ = ["OTHER", "feature_families", "resolve_groups"]

OTHER = "other"
"""The family of a column no family describes (a frame made outside basketcast's features)."""


def _registry() -> list[tuple[str, list[str]]]:
    """The item frame's families and their columns, in registry order."""
    from basketcast.features.registry import REGISTRY

    return [(f.name, list(f.columns)) for f in REGISTRY.item_families]


def feature_families(columns: Sequence[str]) -> dict[str, list[str]]:
    """Family name -> its columns among `columns`, families in registry order.

    Columns no family describes go to the family ``other``; families with no
    column in `columns` are left out.
    """
    present = set(columns)
    families: dict[str, list[str]] = {}
    seen: set[str] = set()
    for name, family_columns in _registry():
        mine = [c for c in family_columns if c in present]
        if mine:
            families[name] = mine
            seen.update(mine)
    rest = [c for c in columns if c not in seen]
    if rest:
        families[OTHER] = rest
    return families


def resolve_groups(
    names: Sequence[str],
    *,
    families: Mapping[str, Sequence[str]],
    together: Sequence[Sequence[str]] = (),
    by: str,
) -> dict[str, list[str]]:
    """The groups of columns to score: one per feature or family, plus each `together` group.

    A `together` entry names features or families to take out at once; it is
    called ``"a + b"``.

    Raises
    ------
    ValueError
        A `together` entry names something that is neither a feature nor a family.
    """
    if by == "feature":
        groups = {n: [n] for n in names}
    else:
        groups = {f: list(cols) for f, cols in families.items()}
    for entry in together:
        columns: list[str] = []
        for part in entry:
            if part in families:
                columns += [c for c in families[part] if c not in columns]
            elif part in names:
                columns += [part] if part not in columns else []
            else:
                raise UsageError(
                    f"--together: {part!r} is neither a feature nor a family of this run; "
                    f"families are {sorted(families)}"
                )
        groups[" + ".join(entry)] = columns
    return groups
