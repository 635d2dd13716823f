"""A self-checking cache entry for one pipeline stage: files + a manifest of sizes and hashes, written last.

One folder holds one stage's entry (the latest key). `StageCache.load(key)`
returns the entry's files only when the manifest exists, names `key`, and
every file has the size and sha256 it lists; anything else (no entry, a
different key, a truncated or altered file, an unreadable manifest) is a miss,
and `StageCache.note` says why when the entry was there but unusable, so the
caller can recompute it *and say so*.

    cache = StageCache(folder.cache("features"))
    files = cache.load(key)
    if files is None:
        with cache.entry(key) as entry:
            write_frame(frame, entry.path("items.parquet"))
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from basketcast._fault import fault_point
from basketcast.io import ensure_folder, write_text
from basketcast.runfolder import file_digest

__all__ = ["CacheEntry", "StageCache"]

_MANIFEST = "entry.json"
_VERSION = 1


class CacheEntry:
    """An entry being written: `path(name)` for each file, `meta` for small values."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.names: list[str] = []
        self.meta: dict[str, Any] = {}

    def path(self, name: str) -> Path:
        """Where to write the file `name` of this entry (write it atomically)."""
        if name == _MANIFEST or name.startswith("."):
            raise ValueError(f"reserved cache file name {name!r}")
        self.names.append(name)
        return self.folder / name


class StageCache:
    """One stage's cache folder (see the module docstring)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.note: str | None = None
        """Why the last `load` found an entry it could not use (None: a hit, or simply no entry)."""
        self.meta: dict[str, Any] = {}
        """The small values saved with the entry `load` last returned."""

    def load(self, key: str) -> dict[str, Path] | None:
        """The entry's files (name → path) when it is complete and intact for `key`, else None."""
        self.note, self.meta = None, {}
        manifest = self.folder / _MANIFEST
        if not manifest.exists():
            return None
        try:
            info = json.loads(manifest.read_text())
            files = info["files"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self.note = f"{manifest} is unreadable ({type(exc).__name__}); recomputing"
            return None
        if info.get("version") != _VERSION or info.get("key") != key:
            return None  # another key: an ordinary miss
        out: dict[str, Path] = {}
        for name, want in files.items():
            path = self.folder / name
            try:
                intact = path.stat().st_size == want["size"] and file_digest(path) == want["sha256"]
            except OSError:
                intact = False
            if not intact:
                self.note = (
                    f"{path} is missing or corrupt (it differs from {manifest}); recomputing"
                )
                return None
            out[name] = path
        self.meta = dict(info.get("meta", {}))
        return out

    def invalidate(self, reason: str) -> None:
        """Forget the entry (its files failed to parse although their hashes matched)."""
        (self.folder / _MANIFEST).unlink(missing_ok=True)
        self.note = reason

    @contextlib.contextmanager
    def entry(self, key: str) -> Iterator[CacheEntry]:
        """Write a new entry for `key`: the old one stops counting first, the manifest goes last."""
        ensure_folder(self.folder)
        (self.folder / _MANIFEST).unlink(missing_ok=True)
        entry = CacheEntry(self.folder)
        yield entry
        fault_point(f"cache:{self.folder.name}:files")
        files = {
            name: {
                "size": (self.folder / name).stat().st_size,
                "sha256": file_digest(self.folder / name),
            }
            for name in dict.fromkeys(entry.names)
        }
        for stale in self.folder.iterdir():  # one entry per stage: files of older keys go
            keep = stale.name in files or stale.name == _MANIFEST or stale.name.startswith(".")
            if stale.is_file() and not keep:
                stale.unlink(missing_ok=True)
        info = {"version": _VERSION, "key": key, "files": files, "meta": entry.meta}
        write_text(self.folder / _MANIFEST, json.dumps(info, indent=2) + "\n")
