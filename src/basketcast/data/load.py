"""A folder of CSV / CSV.gz / Parquet tables → LazyFrames; no compute.

Each table of `basketcast.data.schema` is looked for as `<name>.csv`,
`<name>.csv.gz` or `<name>.parquet` (any mix across tables). CSV columns are
read as text, with no type inference: `basketcast.data.validate` casts them to
the schema dtypes strictly and reports every value that does not fit (file,
column, row count, examples) instead of stopping at the first one. Parquet
columns are scanned as stored and cast the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import polars as pl

from basketcast.data.dataset import DataError, Dataset, Problem
from basketcast.data.schema import TABLES
from basketcast.data.validate import validate
from basketcast.io import INCOMPLETE

__all__ = ["SUFFIXES", "find_tables", "load_dataset", "load_tables", "scan_table"]

SUFFIXES = (".csv", ".csv.gz", ".parquet")


def _expected_names(name: str) -> str:
    files = [f"{name}{suffix}" for suffix in SUFFIXES]
    return ", ".join(files[:-1]) + " or " + files[-1]


def find_tables(folder: str | Path) -> dict[str, Path]:
    """Find the file of each table in `folder`.

    Parameters
    ----------
    folder
        Folder holding `<table>.csv`, `<table>.csv.gz` or `<table>.parquet`.

    Returns
    -------
    dict
        Table name → path, for the tables found; optional tables may be absent.

    Raises
    ------
    FileNotFoundError
        If `folder` does not exist.
    DataError
        Listing every required table that has no file, every table that has
        more than one (which one to read would be a guess), and every table
        name that is a folder or a broken link; or the folder is not a folder,
        or holds the marker of an interrupted write.
    """
    folder = Path(folder)
    if not folder.is_dir():
        if folder.exists():
            raise DataError([Problem(str(folder), "", "is not a folder")], source=str(folder))
        raise FileNotFoundError(f"no such folder: {folder}")
    if (folder / INCOMPLETE).exists():
        message = (
            f"an interrupted write left this folder incomplete ({INCOMPLETE} is there); "
            "write the data again"
        )
        raise DataError([Problem(str(folder), "", message)], source=str(folder))
    found: dict[str, Path] = {}
    problems: list[Problem] = []
    for name, table in TABLES.items():
        paths = [folder / f"{name}{suffix}" for suffix in SUFFIXES]
        # A folder, a dangling link or a link loop under a table's name is there, but unreadable.
        present = [path for path in paths if path.exists() or path.is_symlink()]
        unreadable = [path for path in present if not path.is_file()]
        for path in unreadable:
            kind = "a folder" if path.is_dir() else "a dangling symbolic link or a link loop"
            problems.append(Problem(path.name, "", f"is not a readable file (it is {kind})"))
        if unreadable:
            continue
        if len(present) > 1:
            names = ", ".join(path.name for path in present)
            problems.append(
                Problem(
                    present[0].name, "", f"more than one file for table {name!r}: {names}; keep one"
                )
            )
        elif present:
            found[name] = present[0]
        elif table.required:
            problems.append(
                Problem(
                    f"{name}.csv", "", f"required table missing: expected {_expected_names(name)}"
                )
            )
    if problems:
        raise DataError(problems, source=str(folder))
    return found


def scan_table(path: str | Path) -> pl.LazyFrame:
    """Scan one table lazily: CSV (optionally gzipped) as text columns, Parquet as stored."""
    path = Path(path)
    if path.name.endswith(".parquet"):
        return pl.scan_parquet(path)
    # Text columns, no inference: a guessed dtype would turn a bad value into a crash
    # (or a silent null) before validate could name it. Header names are trimmed
    # ("order_id, user_id" is the same header), and blank lines (a file's trailing
    # newlines, say) are no rows: every field of them reads as null.
    lf = pl.scan_csv(path, infer_schema=False).rename(str.strip)
    return lf.filter(~pl.all_horizontal(pl.all().is_null()))


def load_tables(folder: str | Path) -> dict[str, pl.LazyFrame]:
    """Scan the Instacart-layout tables in `folder` without reading their rows.

    Parameters
    ----------
    folder
        Folder holding the six tables (products, aisles and departments are optional).

    Returns
    -------
    dict
        Table name (as in `basketcast.data.schema.TABLES`) → LazyFrame with the
        columns as stored; pass it to `basketcast.data.validate.validate` for
        typed, checked tables.

    Raises
    ------
    FileNotFoundError, DataError
        As `find_tables`.
    """
    return {name: scan_table(path) for name, path in find_tables(folder).items()}


def load_dataset(folder: str | Path) -> Dataset:
    """Load and validate the tables in `folder`: the one call most callers need.

    Raises
    ------
    FileNotFoundError
        If `folder` is not a folder.
    DataError
        Listing every problem found in the files.
    """
    paths = find_tables(folder)
    files: Mapping[str, str] = {name: path.name for name, path in paths.items()}
    tables = {name: scan_table(path) for name, path in paths.items()}
    return validate(tables, source=str(folder), files=files, paths=paths)
