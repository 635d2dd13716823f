"""Atomic writes: a crash or Ctrl-C never leaves a file that looks complete but is not."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Literal, cast

import polars as pl

__all__ = ["atomic_path", "write_frame", "write_tables", "write_text"]

TableFormat = Literal["csv", "parquet"]
ParquetCompression = Literal["lz4", "snappy", "zstd", "gzip", "brotli", "uncompressed"]


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp makes the file private (0600); give it the permissions a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_frame(
    frame: pl.DataFrame, path: str | Path, *, compression: ParquetCompression = "zstd"
) -> Path:
    """Write a frame as CSV, CSV.gz or Parquet, chosen by the file name, atomically.

    `compression` is the Parquet codec (CSV ignores it): zstd is small, lz4
    about twice as fast to write, for caches.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        name = path.name
        if name.endswith(".parquet"):
            frame.write_parquet(tmp, statistics=False, compression=compression)
        elif name.endswith(".csv.gz"):
            import gzip

            with gzip.open(tmp, "wb", compresslevel=5) as fh:
                frame.write_csv(cast(IO[bytes], fh))
        elif name.endswith(".csv"):
            frame.write_csv(tmp)
        else:
            raise ValueError(f"{path}: unknown table format (use .csv, .csv.gz or .parquet)")
    return path


def write_tables(
    tables: dict[str, pl.DataFrame], out: str | Path, *, format: TableFormat = "csv"
) -> Path:
    """Write named tables into the folder `out` as `<name>.<format>`, all or nothing.

    The tables are written to a temporary sibling folder which replaces the
    files in `out` only once every table is complete.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    suffix = {"csv": ".csv", "parquet": ".parquet"}[format]
    staging = Path(tempfile.mkdtemp(prefix=".staging.", dir=out))
    try:
        for name, frame in tables.items():
            write_frame(frame, staging / f"{name}{suffix}")
        for name in tables:
            os.replace(staging / f"{name}{suffix}", out / f"{name}{suffix}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out
