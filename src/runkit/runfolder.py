"""A run folder's life cycle: lock, invocation id, staged outputs published together, manifest, sweep.

Layout of a run folder ``R``::

    R/.lock                       held (flock) for a whole run; holds the holder's PID
    R/.outputs/<invocation id>/   one invocation's final outputs, staged here
    R/.outputs/current            symlink to the published invocation's folder
    R/submission.csv, R/metrics.json, R/models, R/stats, ...
                                  symlinks to .outputs/current/<name>
    R/run.json                    the manifest: invocation id, every output's size and sha256
    R/cache/<stage>/              stage caches, each a self-checking `StageCache` entry

Publishing swaps one symlink (``current``) with a rename, which is atomic: a
reader, or a run killed at any instant, sees the previous complete outputs or
the new complete outputs, never a mix. The top-level names are links through
``current``, so they switch together; a top-level name the published run does
not have dangles (reads as missing).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from runkit.fault import fault_point
from runkit.io import WriteError, check_can_write, ensure_folder, sweep_temporary, write_text
from runkit.locks import LockBusy, hold_lock

__all__ = [
    "MANIFEST",
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

MANIFEST = "run.json"
LOCK = ".lock"
OUTPUTS = ".outputs"
CURRENT = "current"
MANIFEST_VERSION = 1


class RunFolderBusy(LockBusy):
    """Another process holds the run folder's lock."""


def new_invocation_id() -> str:
    """A fresh id per `run` call: UTC time to the second, then 8 random hex digits."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{now}-{secrets.token_hex(4)}"


def file_digest(path: str | Path) -> str:
    """sha256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _files_under(folder: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            out[path.relative_to(folder).as_posix()] = {
                "size": path.stat().st_size,
                "sha256": file_digest(path),
            }
    return out


def read_manifest(
    root: str | Path, *, product: str, error: type[Exception] = ValueError
) -> dict[str, Any]:
    """The published run's manifest (``run.json``).

    Raises
    ------
    FileNotFoundError
        When `root` holds no published run ("not a finished `product` run").
    error
        When the manifest is unreadable.
    """
    path = Path(root) / MANIFEST
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: missing; {root} is not a finished {product} run (or was written by a "
            "version before run manifests; re-run it)"
        )
    try:
        info: dict[str, Any] = json.loads(path.read_text())
        if info.get("manifest_version") != MANIFEST_VERSION or "files" not in info:
            raise ValueError("unknown manifest version")
    except (ValueError, UnicodeDecodeError) as exc:
        raise error(f"{path} is corrupt ({exc}); re-run") from None
    return info


def published_folder(root: str | Path) -> Path:
    """The folder of the invocation `root` publishes now (`root` itself for a plain folder).

    A reader that resolves this once reads one invocation's files throughout,
    even while another run publishes into `root`.
    """
    root = Path(root)
    manifest = root / MANIFEST
    if manifest.is_symlink():
        return Path(os.path.realpath(manifest)).parent
    return root


def verify_outputs(
    root: str | Path,
    names: list[str] | None = None,
    *,
    product: str,
    error: type[Exception] = ValueError,
) -> dict[str, Any]:
    """Check published files against the manifest (all, or those under `names`); return it.

    Raises `error` naming the first file that is missing or whose size or
    hash differs: "R/models/item_fold0.ubj is corrupt; re-run".
    """
    root = Path(root)
    info = read_manifest(root, product=product, error=error)
    for rel, want in info["files"].items():
        if names is not None and not any(rel == n or rel.startswith(f"{n}/") for n in names):
            continue
        path = root / rel
        if not path.is_file():
            raise error(f"{path} is missing (listed in {root / MANIFEST}); re-run")
        if path.stat().st_size != want["size"] or file_digest(path) != want["sha256"]:
            raise error(f"{path} is corrupt; re-run (it differs from {root / MANIFEST})")
    return info


class RunFolder:
    """An open (locked) run folder: where this invocation stages outputs, and how it publishes them."""

    def __init__(self, root: Path, invocation_id: str) -> None:
        self.root = root
        self.invocation_id = invocation_id
        self.staging = root / OUTPUTS / invocation_id
        self.published = False

    def output(self, name: str) -> Path:
        """Where to write the final output `name` (a file, or a folder's file: ``models/x.ubj``)."""
        path = self.staging / name
        ensure_folder(path.parent)
        return path

    def cache(self, stage: str) -> Path:
        """The folder of one stage's cache (``R/cache/<stage>``)."""
        return ensure_folder(self.root / "cache" / stage)

    def link_output(self, source: Path, name: str) -> Path:
        """Stage a final output that is a finished file elsewhere (a cache entry): hard link, else copy."""
        target = self.output(name)
        target.unlink(missing_ok=True)
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)
        return target

    def publish(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Write the manifest, then make the staged outputs the folder's outputs in one rename."""
        manifest = {
            "manifest_version": MANIFEST_VERSION,
            "invocation_id": self.invocation_id,
            "published": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            **(extra or {}),
            "files": _files_under(self.staging),
        }
        write_text(self.staging / MANIFEST, json.dumps(manifest, indent=2) + "\n")
        fault_point("publish:manifest")
        names = sorted(p.name for p in self.staging.iterdir() if not p.name.startswith("."))
        for name in names:
            self._link_top(name)
        fault_point("publish:links")
        outputs = self.root / OUTPUTS
        if (outputs / CURRENT).is_dir() and not (outputs / CURRENT).is_symlink():
            # A copy of a run folder that followed the links: its `current` is a real folder.
            os.replace(outputs / CURRENT, outputs / f".legacy.{os.getpid()}.{secrets.token_hex(4)}")
        tmp_link = outputs / f".{CURRENT}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        os.symlink(self.invocation_id, tmp_link)
        try:
            os.replace(tmp_link, outputs / CURRENT)  # the publication: one atomic rename
        except OSError as exc:
            tmp_link.unlink(missing_ok=True)
            raise WriteError(f"cannot write {outputs / CURRENT}: {exc.strerror}") from None
        self.published = True
        fault_point("publish:swapped")
        self._drop_other_invocations()
        self._drop_dangling_links(set(names))
        return manifest

    def _link_top(self, name: str) -> None:
        top = self.root / name
        want = f"{OUTPUTS}/{CURRENT}/{name}"
        if top.is_symlink() and os.readlink(top) == want:
            return
        if top.exists() and not top.is_symlink():
            # A real file or folder (a run folder from before run manifests): it is replaced,
            # so move it out of the way; the sweep of the next run removes it.
            legacy = self.root / OUTPUTS / f".legacy.{os.getpid()}.{secrets.token_hex(4)}"
            legacy.mkdir(parents=True, exist_ok=True)
            os.replace(top, legacy / name)
        tmp = self.root / f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        os.symlink(want, tmp)
        os.replace(tmp, top)

    def _drop_other_invocations(self) -> None:
        for entry in (self.root / OUTPUTS).iterdir():
            if entry.name not in (CURRENT, self.invocation_id):
                _remove(entry)

    def _drop_dangling_links(self, names: set[str]) -> None:
        for entry in self.root.iterdir():
            if (
                entry.is_symlink()
                and entry.name not in names
                and os.readlink(entry).startswith(f"{OUTPUTS}/{CURRENT}/")
            ):
                entry.unlink()

    def sweep(self) -> list[Path]:
        """Remove what killed runs left: temp files, staging folders, unpublished invocations."""
        removed = sweep_temporary(self.root, everything=True)
        outputs = self.root / OUTPUTS
        current = _current_target(outputs)
        if outputs.is_dir():
            for entry in outputs.iterdir():
                if entry.name not in (CURRENT, current):
                    _remove(entry)
                    removed.append(entry)
        cache = self.root / "cache"
        if cache.is_dir():
            for folder in [cache, *(p for p in cache.iterdir() if p.is_dir())]:
                removed += sweep_temporary(folder, everything=True)
        return removed


def _current_target(outputs: Path) -> str | None:
    try:
        return os.readlink(outputs / CURRENT)
    except OSError:
        return None


def _remove(entry: Path) -> None:
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        entry.unlink(missing_ok=True)


def check_writable(root: str | Path) -> None:
    """Raise `WriteError` at once when `root` is a file or cannot be made or written."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise WriteError(f"cannot write {root}: it exists and is not a folder")
    check_can_write(root)


@contextlib.contextmanager
def open_run_folder(root: str | Path, *, product: str) -> Iterator[RunFolder]:
    """Lock `root` for one run (creating it), sweep what killed runs left, and yield it.

    Raises
    ------
    RunFolderBusy
        When another live process holds the lock; the message names its PID.
    WriteError
        When `root` cannot be created or written.
    """
    root = ensure_folder(root)
    fd = hold_lock(
        root / LOCK,
        lambda holder: (
            f"{root} is in use by another {product} run (PID {holder}); wait for it "
            "to finish or choose another --out"
        ),
        error=RunFolderBusy,
    )
    try:
        fault_point("lock:held")
        folder = RunFolder(root, new_invocation_id())
        folder.sweep()
        ensure_folder(folder.staging)
        try:
            yield folder
        finally:
            if not folder.published:  # a failed run leaves the previous outputs as they were
                _remove(folder.staging)
    finally:
        os.close(fd)  # releases the lock; the kernel does the same for a killed process
