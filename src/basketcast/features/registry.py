"""Every feature has a name and a one-line description; the report lists them from here."""

from __future__ import annotations

__all__ = ["DESCRIPTIONS", "describe", "register"]

DESCRIPTIONS: dict[str, str] = {}


def register(family: str, descriptions: dict[str, str]) -> dict[str, str]:
    """Record a family's features; a name may be registered only once."""
    clash = set(descriptions) & set(DESCRIPTIONS)
    if clash:
        raise ValueError(f"feature names registered twice ({family}): {sorted(clash)}")
    DESCRIPTIONS.update(descriptions)
    return descriptions


def describe(name: str) -> str:
    return DESCRIPTIONS.get(name, "")
