"""Small file checks shared by the readers: where a text file stops being UTF-8."""

from __future__ import annotations

import gzip
from pathlib import Path

__all__ = ["first_bad_utf8"]


def first_bad_utf8(path: str | Path) -> tuple[int, int] | None:
    """(first line number, number of lines) that are not UTF-8, or None.

    Reads the whole file line by line: meant for the error path, after a
    parser has already refused the file.
    """
    path = Path(path)
    opener = gzip.open if path.name.endswith(".gz") else open
    first, count = 0, 0
    with opener(path, "rb") as fh:
        for number, line in enumerate(fh, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                first = first or number
                count += 1
    return (first, count) if count else None
