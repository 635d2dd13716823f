"""Atomic writes: a crash, a SIGKILL or Ctrl-C never leaves a file that looks complete but is not.

- `atomic_path` / `write_text` / `write_frame`: one file, temp file + rename.
- `write_folder`: several files as one unit (a data folder); a reader sees the
  previous files, the new ones, or a marker saying the write was interrupted.
- `sweep_temporary`: removes the temp files and staging folders a killed
  process left behind.

Every write failure (permission, full disk, a file where a folder should be)
is raised as `WriteError` ("cannot write PATH: reason").
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Literal, cast

import polars as pl

from basketcast._fault import fault_point
from basketcast.errors import WriteError

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

# `.<name>.<pid>.<random>.tmp` and `.staging.<pid>.<random>`: the pid says whether the writer lives.
_TEMP = re.compile(r"^\..+\.(\d+)\.[A-Za-z0-9_]+\.tmp$")
_STAGING = re.compile(r"^\.staging\.(\d+)\.[A-Za-z0-9_]+$")


def _reason(exc: BaseException) -> str:
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
        raise WriteError(f"cannot write {folder}: {_reason(exc)}") from None
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
        raise WriteError(f"cannot write {path}: {_reason(exc)}") from None
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
            raise WriteError(f"cannot write {path}: {_reason(exc)}") from None
        fault_point(f"write:{path.name}")
        try:
            os.replace(tmp_path, path)
        except OSError as exc:
            raise WriteError(f"cannot write {path}: {_reason(exc)}") from None
    finally:
        tmp_path.unlink(missing_ok=True)


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
