"""Atomic writes: a crash or Ctrl-C never leaves a file that looks complete but is not.

`atomic_path` and `write_text` are `runkit.io`'s (shared with basketcast);
`write_frame` writes a table with them.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from runkit.io import atomic_path, write_text

__all__ = ["atomic_path", "write_frame", "write_text"]


def write_frame(frame: pl.DataFrame, path: str | Path) -> Path:
    """Write a frame as CSV or Parquet (chosen by the suffix), atomically."""
    path = Path(path)
    if not path.name.endswith((".parquet", ".csv")):
        raise ValueError(f"{path}: unknown table format (use .csv or .parquet)")
    with atomic_path(path) as tmp:
        if path.name.endswith(".parquet"):
            frame.write_parquet(tmp, compression="zstd")
        else:
            frame.write_csv(tmp)
    return path
