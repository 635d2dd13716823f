"""The feature registry: every feature's name, family, streamability and a one-line description."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "FAMILIES",
    "REGISTRY",
    "WINDOWS",
    "Feature",
    "feature_names",
    "register",
]

WINDOWS: dict[str, int] = {"1h": 60, "1d": 1440, "7d": 7 * 1440, "30d": 30 * 1440}
"""Trailing account windows: name -> width in minutes."""

FAMILIES: dict[str, bool] = {
    "transaction": True,
    "account": True,
    "pair": True,
    "graph": False,
    "flow": False,
    "fresh": False,
}
"""Family -> streamable (can be updated one transaction at a time with per-account state)."""


@dataclass(frozen=True)
class Feature:
    """One registered feature column (float32 in the feature frame)."""

    name: str
    family: str
    description: str

    @property
    def streamable(self) -> bool:
        return FAMILIES[self.family]


REGISTRY: dict[str, Feature] = {}


def register(name: str, family: str, description: str) -> None:
    """Add a feature (names are unique; families are those of `FAMILIES`)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}")
    if name in REGISTRY:
        raise ValueError(f"feature {name!r} registered twice")
    REGISTRY[name] = Feature(name, family, description)


def feature_names(
    *, streamable_only: bool = False, families: Iterable[str] | None = None
) -> list[str]:
    """Registered feature names in registry order, optionally only streamable ones or some families."""
    wanted = set(families) if families is not None else set(FAMILIES)
    unknown = wanted - set(FAMILIES)
    if unknown:
        raise ValueError(f"unknown feature families: {sorted(unknown)}")
    return [
        f.name
        for f in REGISTRY.values()
        if f.family in wanted and (f.streamable or not streamable_only)
    ]
