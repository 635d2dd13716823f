"""Atomic writes: a crash, a SIGKILL or Ctrl-C never leaves a file that looks complete but is not.

- `atomic_path` / `write_text`: one file, temp file + rename.
- `sweep_temporary`: removes the temp files and staging folders a killed
  process left behind.
- `check_can_write` / `ensure_folder`: say "cannot write" before long work.

Every write failure (permission, full disk, a file where a folder should be)
is raised as `WriteError` ("cannot write PATH: reason").
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from runkit.errors import WriteError
from runkit.fault import fault_point

__all__ = [
    "WriteError",
    "atomic_path",
    "check_can_write",
    "ensure_folder",
    "reason",
    "sweep_temporary",
    "write_text",
]


# `.<name>.<pid>.<random>.tmp` and `.staging.<pid>.<random>`: the pid says whether the writer lives.
_TEMP = re.compile(r"^\..+\.(\d+)\.[A-Za-z0-9_]+\.tmp$")
_STAGING = re.compile(r"^\.staging\.(\d+)\.[A-Za-z0-9_]+$")


def reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def check_can_write(path: str | Path) -> None:
    """Raise `WriteError` now if `path` (a folder or file to be made) could not be written.

    Looks at the nearest existing ancestor: it must be a folder this process
    may write into. Commands call it before long work, so "cannot write" is
    said at once, not after minutes of computing.
    """
    path = Path(path)
    if path.exists():
        target = path if path.is_dir() else path.parent
        if path.is_dir() and not os.access(path, os.W_OK | os.X_OK):
            raise WriteError(f"cannot write {path}: Permission denied")
        if not path.is_dir() and not os.access(target, os.W_OK | os.X_OK):
            raise WriteError(f"cannot write {path}: Permission denied")
        return
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise WriteError(f"cannot write {path}: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise WriteError(f"cannot write {path}: Permission denied")
            return


def ensure_folder(folder: str | Path) -> Path:
    """Create `folder` (and parents), or raise `WriteError` saying why it cannot be."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise WriteError(f"cannot write {folder}: it exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise WriteError(f"cannot write {folder}: a parent of it is a file, not a folder") from None
    except OSError as exc:
        raise WriteError(f"cannot write {folder}: {reason(exc)}") from None
    return folder


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it into place only if the block succeeds."""
    path = Path(path)
    ensure_folder(path.parent)
    if path.is_dir():
        raise WriteError(f"cannot write {path}: it is a folder")
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent
        )
    except OSError as exc:
        raise WriteError(f"cannot write {path}: {reason(exc)}") from None
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp makes the file private (0600); give it the permissions a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)
    try:
        try:
            yield tmp_path
        except (OSError, pl.exceptions.PolarsError) as exc:
            if isinstance(exc, WriteError):
                raise
            raise WriteError(f"cannot write {path}: {reason(exc)}") from None
        fault_point(f"write:{path.name}")
        try:
            os.replace(tmp_path, path)
        except OSError as exc:
            raise WriteError(f"cannot write {path}: {reason(exc)}") from None
    finally:
        tmp_path.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> Path:
    """Write `text` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def sweep_temporary(folder: str | Path, *, everything: bool = False) -> list[Path]:
    """Remove the temp files and staging folders that a killed writer left in `folder`.

    Only those whose writer (the pid in the name) is gone, unless `everything`
    (the caller holds a lock that rules out other writers). Returns what was removed.
    """
    folder = Path(folder)
    removed: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP.match(entry.name) or _STAGING.match(entry.name)
        if match is None or (not everything and _alive(int(match.group(1)))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed
