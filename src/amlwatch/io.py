"""Atomic writes: a crash or Ctrl-C never leaves a file that looks complete but is not."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import polars as pl

__all__ = ["atomic_path", "write_frame", "write_text"]


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    # mkstemp makes the file private (0600); give it the permissions a plain open() would.
    os.chmod(tmp_path, 0o666 & ~umask)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(path: str | Path, text: str) -> Path:
    """Write text atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_frame(frame: pl.DataFrame, path: str | Path) -> Path:
    """Write a frame as CSV or Parquet (chosen by the suffix), atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.name.endswith(".parquet"):
            frame.write_parquet(tmp, compression="zstd")
        elif path.name.endswith(".csv"):
            frame.write_csv(tmp)
        else:
            raise ValueError(f"{path}: unknown table format (use .csv or .parquet)")
    return path
