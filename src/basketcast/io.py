"""Atomic writes: a crash, a SIGKILL or Ctrl-C never leaves a file that looks complete but is not.

- `write_frame` / `parquet_appender`: one table, temp file + rename.
- `write_folder`: several files as one unit (a data folder); a reader sees the
  previous files, the new ones, or a marker saying the write was interrupted.
- `atomic_path`, `write_text`, `sweep_temporary`, `check_can_write` and
  `ensure_folder` are `runkit.io`'s (amlwatch writes with them too), named
  here as well.

Every write failure (permission, full disk, a file where a folder should be)
is raised as `WriteError` ("cannot write PATH: reason").
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Literal, cast

import polars as pl

from runkit.fault import fault_point
from runkit.io import (
    WriteError,
    atomic_path,
    check_can_write,
    ensure_folder,
    sweep_temporary,
    write_text,
)
from runkit.io import reason as _reason

__all__ = [
    "INCOMPLETE",
    "WriteError",
    "atomic_path",
    "check_can_write",
    "ensure_folder",
    "parquet_appender",
    "read_parquet_in_slices",
    "sweep_temporary",
    "write_folder",
    "write_frame",
    "write_tables",
    "write_text",
]

TableFormat = Literal["csv", "parquet"]
ParquetCompression = Literal["lz4", "snappy", "zstd", "gzip", "brotli", "uncompressed"]

INCOMPLETE = ".basketcast-incomplete"
"""Marker of a folder whose `write_folder` was interrupted; `load_dataset` refuses such a folder."""


def write_frame(
    frame: pl.DataFrame, path: str | Path, *, compression: ParquetCompression = "zstd"
) -> Path:
    """Write a frame as CSV, CSV.gz or Parquet, chosen by the file name, atomically.

    `compression` is the Parquet codec (CSV ignores it): zstd is small, lz4
    about twice as fast to write, for caches.
    """
    path = Path(path)
    name = path.name
    if not name.endswith((".parquet", ".csv.gz", ".csv")):
        raise WriteError(
            f"cannot write {path}: unknown table format (use .csv, .csv.gz or .parquet)"
        )
    with atomic_path(path) as tmp:
        if name.endswith(".parquet"):
            frame.write_parquet(tmp, statistics=False, compression=compression)
        elif name.endswith(".csv.gz"):
            import gzip

            with gzip.open(tmp, "wb", compresslevel=5) as fh:
                frame.write_csv(cast(IO[bytes], fh))
        else:
            frame.write_csv(tmp)
    return path


@contextlib.contextmanager
def parquet_appender(
    path: str | Path, *, compression: ParquetCompression = "zstd"
) -> Iterator[Callable[[pl.DataFrame], None]]:
    """Write frames one after another into one Parquet file, atomically.

    Yields `append(frame)`: each frame's rows are encoded and written at once,
    so the caller can free a frame before it builds the next. The file
    appears, whole, only when the block succeeds. Every frame must have the
    first one's schema; at least one frame must be given.
    """
    import pyarrow.parquet as pq

    path = Path(path)
    with atomic_path(path) as tmp:
        writer: pq.ParquetWriter | None = None

        def append(frame: pl.DataFrame) -> None:
            nonlocal writer
            table = frame.to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(
                    tmp, table.schema, compression=compression, write_statistics=False
                )
            elif table.schema != writer.schema:
                raise WriteError(
                    f"cannot write {path}: a part's schema differs from the first part's"
                )
            writer.write_table(table)

        try:
            yield append
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            raise WriteError(f"cannot write {path}: no frame was given")


def read_parquet_in_slices(path: str | Path, *, rows: int = 2_000_000) -> pl.DataFrame:
    """A Parquet file read `rows` at a time and stacked without a copy.

    Reading a large file at once holds decode buffers of about a third of
    the frame beside it (3 GiB for the full-scale feature frame); a slice at
    a time holds one slice's.
    """
    path = Path(path)
    total = pl.scan_parquet(path).select(pl.len()).collect().item()
    parts = [pl.scan_parquet(path).slice(start, rows).collect() for start in range(0, total, rows)]
    if not parts:
        return pl.read_parquet(path)
    return pl.concat(parts, how="vertical", rechunk=False)


def write_folder(
    out: str | Path,
    frames: Mapping[str, pl.DataFrame],
    *,
    supersede: Iterable[str] = (),
) -> Path:
    """Write several files (file name → frame) into `out` as one unit.

    Every file is completed in a hidden staging folder first. Then a marker
    (`INCOMPLETE`) is written, the files named in `supersede` (an earlier
    write's files that these replace, e.g. the same table in another format)
    are removed, the new files are moved in, and the marker goes. A reader
    therefore sees the old files, the new files, or a folder that
    `load_dataset` refuses with "interrupted"; never an unmarked mix.
    """
    out = ensure_folder(out)
    sweep_temporary(out)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".staging.{os.getpid()}.", dir=out))
    except OSError as exc:
        raise WriteError(f"cannot write {out}: {_reason(exc)}") from None
    try:
        for name, frame in frames.items():
            write_frame(frame, staging / name)
        fault_point("folder:staged")
        write_text(out / INCOMPLETE, "".join(f"{name}\n" for name in frames))
        for name in set(supersede) - set(frames):
            (out / name).unlink(missing_ok=True)
        for name in frames:
            fault_point("folder:move")
            os.replace(staging / name, out / name)
        (out / INCOMPLETE).unlink()
    except OSError as exc:
        if isinstance(exc, WriteError):
            raise
        raise WriteError(f"cannot write {out}: {_reason(exc)}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def write_tables(
    tables: dict[str, pl.DataFrame], out: str | Path, *, format: TableFormat = "csv"
) -> Path:
    """Write named tables into the folder `out` as `<name>.<format>`, as one unit (`write_folder`)."""
    suffix = {"csv": ".csv", "parquet": ".parquet"}[format]
    return write_folder(out, {f"{name}{suffix}": frame for name, frame in tables.items()})
