"""basketcast's run folders: `runkit.runfolder`'s life cycle, with basketcast's outputs and errors.

The layout, the lock, staging and the one-rename publication are described in
`runkit.runfolder`; this module names what `basketcast run` publishes and
raises `basketcast.errors.UsageError` for a missing or corrupt output.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from basketcast.errors import UsageError
from runkit import runfolder as _runkit
from runkit.runfolder import (
    CURRENT,
    LOCK,
    MANIFEST,
    MANIFEST_VERSION,
    OUTPUTS,
    RunFolder,
    RunFolderBusy,
    check_writable,
    file_digest,
    new_invocation_id,
    published_folder,
)

__all__ = [
    "CURRENT",
    "FINAL_OUTPUTS",
    "LOCK",
    "MANIFEST",
    "MANIFEST_VERSION",
    "OUTPUTS",
    "RunFolder",
    "RunFolderBusy",
    "check_writable",
    "file_digest",
    "new_invocation_id",
    "open_run_folder",
    "published_folder",
    "read_manifest",
    "verify_outputs",
]

FINAL_OUTPUTS = (
    "config.toml",
    "submission.csv",
    "metrics.json",
    "report.html",
    "predictions.parquet",
    "oof.parquet",
    "models",
    "stats",
)
"""What `basketcast run` publishes (plus MANIFEST); a stage may stage more (e.g. ``stats``)."""


def read_manifest(root: str | Path) -> dict[str, Any]:
    """The published run's manifest (``run.json``); `UsageError` when it is unreadable."""
    return _runkit.read_manifest(root, product="basketcast", error=UsageError)


def verify_outputs(root: str | Path, names: list[str] | None = None) -> dict[str, Any]:
    """Check published files against the manifest (all, or those under `names`); return it."""
    return _runkit.verify_outputs(root, names, product="basketcast", error=UsageError)


def open_run_folder(root: str | Path) -> AbstractContextManager[RunFolder]:
    """Lock `root` for one basketcast run (`runkit.runfolder.open_run_folder`)."""
    return _runkit.open_run_folder(root, product="basketcast")
