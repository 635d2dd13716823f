"""Fitted family statistics of one depth, and how a run folder keeps them (`RUN/stats/`).

Layout of the folder::

    stats/
      manifest.json            format version, depth, data fingerprint, families, files
      <family>.<name>.parquet  one per fitted statistic (e.g. product.product.parquet)

The manifest is written last, so a folder without one is incomplete and is
never read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from basketcast.data.dataset import DataError, Problem
from basketcast.io import write_frame, write_text

__all__ = ["FORMAT_VERSION", "MANIFEST", "FittedStats", "StatsError"]

FORMAT_VERSION = 1
"""Bumped whenever the meaning or layout of saved statistics changes."""
MANIFEST = "manifest.json"


class StatsError(DataError):
    """A run folder's fitted statistics are missing, incomplete or of another format."""


@dataclass(frozen=True)
class FittedStats:
    """The statistics every family shares across users, fitted on one depth's visible history.

    Attributes
    ----------
    depth
        The depth whose history they were fitted on (runs save depth 0).
    families
        Every family that was fitted (in registry order), also those with no statistics.
    tables
        family name → statistic name → collected frame.
    fingerprint
        The data fingerprint of the run they come from ("" when unknown).
    key
        The run's features-stage cache key ("" when unknown): the feature
        cache and these statistics are reused only together.
    """

    depth: int
    families: tuple[str, ...]
    tables: Mapping[str, Mapping[str, pl.DataFrame]] = field(hash=False)
    fingerprint: str = ""
    key: str = ""

    def of(self, family: str) -> Mapping[str, pl.DataFrame]:
        """The statistics of ``family``; a `StatsError` when it was not fitted."""
        if family not in self.families:
            raise StatsError(
                [
                    Problem(
                        "fitted statistics",
                        "",
                        f"family {family!r} was not fitted (fitted: {list(self.families)}); "
                        "fit with the same features.exclude as the transform",
                    )
                ],
                source="the fitted statistics",
            )
        return self.tables.get(family, {})

    def save(self, folder: str | Path) -> Path:
        """Write the statistics as Parquet plus `manifest.json` into ``folder``; returns it."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / MANIFEST).unlink(missing_ok=True)  # incomplete until the manifest is back
        for old in folder.glob("*.parquet"):
            old.unlink()
        files: dict[str, dict[str, str]] = {}
        for family, named in self.tables.items():
            for name, frame in named.items():
                path = folder / f"{family}.{name}.parquet"
                write_frame(frame, path)
                files.setdefault(family, {})[name] = path.name
        manifest = {
            "format_version": FORMAT_VERSION,
            "depth": self.depth,
            "data_fingerprint": self.fingerprint,
            "key": self.key,
            "families": list(self.families),
            "files": files,
        }
        write_text(folder / MANIFEST, json.dumps(manifest, indent=2) + "\n")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> FittedStats:
        """Read statistics saved by `save`.

        Raises
        ------
        StatsError
            When the folder or its manifest is missing (a run from before
            statistics were saved), of another format version, or a file is missing.
        """
        folder = Path(folder)
        manifest_path = folder / MANIFEST
        if not manifest_path.is_file():
            raise _error(
                folder,
                f"no fitted feature statistics ({MANIFEST} is missing): the run that wrote "
                f"{folder.parent} predates saved statistics or did not finish its features "
                "stage; re-run `basketcast run` to write them",
            )
        manifest: dict[str, Any] = json.loads(manifest_path.read_text())
        version = manifest.get("format_version")
        if version != FORMAT_VERSION:
            raise _error(
                folder,
                f"statistics format version {version!r}, this basketcast reads version "
                f"{FORMAT_VERSION}; re-run `basketcast run` to write them again",
            )
        tables: dict[str, dict[str, pl.DataFrame]] = {}
        missing = []
        for family, named in manifest["files"].items():
            for name, file in named.items():
                path = folder / file
                if not path.is_file():
                    missing.append(file)
                    continue
                tables.setdefault(family, {})[name] = pl.read_parquet(path)
        if missing:
            raise _error(folder, f"{len(missing)} statistics file(s) missing, e.g. {missing[:3]}")
        return cls(
            depth=int(manifest["depth"]),
            families=tuple(manifest["families"]),
            tables=tables,
            fingerprint=str(manifest.get("data_fingerprint", "")),
            key=str(manifest.get("key", "")),
        )

    @staticmethod
    def saved_key(folder: str | Path) -> str | None:
        """The `key` of the statistics saved in ``folder`` (None when there are none)."""
        path = Path(folder) / MANIFEST
        if not path.is_file():
            return None
        manifest = json.loads(path.read_text())
        if manifest.get("format_version") != FORMAT_VERSION:
            return None
        return str(manifest.get("key", ""))


def _error(folder: Path, message: str) -> StatsError:
    return StatsError([Problem(str(folder), "", message)], source=str(folder))
