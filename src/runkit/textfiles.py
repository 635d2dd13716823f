"""Where a user's text file stops being readable CSV, for the error message.

Both products' loaders call these after a parser has refused a file, to name
the line to fix: they read the whole file, so they are for the error path only.
"""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path
from typing import BinaryIO, cast

__all__ = ["first_bad_utf8", "first_broken_row", "open_binary"]


def open_binary(path: str | Path) -> BinaryIO:
    """`path` opened for reading bytes, through gzip when its name ends in ``.gz``."""
    path = Path(path)
    if path.name.endswith(".gz"):
        return cast(BinaryIO, gzip.open(path, "rb"))
    return path.open("rb")


def first_bad_utf8(path: str | Path) -> tuple[int, int] | None:
    """(first line number, number of lines) that are not UTF-8, or None."""
    first, count = 0, 0
    with open_binary(path) as fh:
        for number, line in enumerate(fh, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                first = first or number
                count += 1
    return (first, count) if count else None


def first_broken_row(path: str | Path, width: int | None = None) -> str | None:
    """The first row with another field count than the header's (or `width`), or with a
    quote that never closes, said with its line number; None when every row is whole.

    Blank lines are not rows. The file must be UTF-8 (check `first_bad_utf8` first).
    """
    with open_binary(path) as fh:
        text = io.TextIOWrapper(fh, encoding="utf-8-sig", newline="")
        reader = csv.reader(text, strict=True)
        start = 1  # the line the row being read starts on
        try:
            for fields in reader:
                if width is None:
                    width = len(fields)
                elif fields and len(fields) != width:
                    return f"line {start} has {len(fields)} fields, the header {width}"
                start = reader.line_num + 1
        except csv.Error as exc:
            if "field larger" in str(exc) or "unexpected end of data" in str(exc):
                return f'line {start}: a quote (") opens a field that never closes'
            return f"line {start}: {exc}"
    return None
