"""Reading and checking submission and truth files (``order_id,products``).

A submission and a truth are both frames ``order_id`` (Int64), ``products``
(String: space-separated product ids, or ``None``).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from basketcast.data.dataset import DataError, Problem
from basketcast.data.schema import ID

__all__ = ["NONE_TOKEN", "read_submission", "read_truth"]

NONE_TOKEN = "None"
_COLUMNS = ("order_id", "products")
_TOKEN = r"^(?:-?\d+|None)$"
_N_EXAMPLES = 3


def _problems(frame: pl.DataFrame, *, source: str, truth: bool) -> list[Problem]:
    """Every problem of one submission-like frame (all columns as read, any dtype)."""
    missing = [c for c in _COLUMNS if c not in frame.columns]
    if missing:
        return [
            Problem(source, c, f"missing column (found: {', '.join(frame.columns)})")
            for c in missing
        ]
    rows = frame.select(
        pl.int_range(pl.len()).alias("row"),
        pl.col("order_id").cast(pl.String).alias("raw_id"),
        pl.col("order_id")
        .cast(pl.String)
        .str.strip_chars()
        .cast(ID, strict=False)
        .alias("order_id"),
        pl.col("products").cast(pl.String).str.extract_all(r"\S+").alias("tokens"),
    )
    problems: list[Problem] = []

    def add(column: str, message: str, bad: pl.DataFrame, show: pl.Expr) -> None:
        if bad.height:
            examples = tuple(bad.head(_N_EXAMPLES).select(show).to_series().to_list())
            problems.append(Problem(source, column, message, bad.height, examples))

    # A data row's line in a CSV file is its index + 2 (the header is line 1).
    where = pl.format(
        "line {} (order {})", pl.col("row") + 2, pl.col("raw_id").fill_null("<empty>")
    )
    if truth and rows.height == 0:
        problems.append(Problem(source, "order_id", "no orders"))
    add("order_id", "not an integer order id", rows.filter(pl.col("order_id").is_null()), where)
    dup = rows.filter(pl.col("order_id").is_not_null() & pl.col("order_id").is_duplicated())
    add("order_id", "duplicate order id", dup, where)
    add(
        "products",
        f"empty (write {NONE_TOKEN} for an order without reorders)",
        rows.filter(pl.col("tokens").list.len().fill_null(0) == 0),
        where,
    )
    el = pl.element()
    bad_token = ~el.str.contains(_TOKEN) | (
        (el != NONE_TOKEN) & el.cast(ID, strict=False).is_null()
    )
    unknown = rows.with_columns(
        pl.col("tokens").list.eval(el.filter(bad_token)).alias("bad")
    ).filter(pl.col("bad").list.len().fill_null(0) > 0)
    add(
        "products",
        f"unknown token (neither an integer product id nor {NONE_TOKEN})",
        unknown,
        pl.format("{}: '{}'", where, pl.col("bad").list.first()),
    )
    if truth:
        mixed = rows.filter(
            pl.col("tokens").list.contains(NONE_TOKEN) & (pl.col("tokens").list.len() > 1)
        )
        add("products", f"{NONE_TOKEN} mixed with products in the truth", mixed, where)
    return problems


def _normalise(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(
        pl.col("order_id").cast(pl.String).str.strip_chars().cast(ID),
        pl.col("products").cast(pl.String).str.strip_chars(),
    )


def _read(path: str | Path, *, truth: bool) -> pl.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        # Everything as text: the checks below report bad ids instead of a parser error.
        frame = pl.read_csv(path, infer_schema=False)
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as exc:
        raise DataError(
            [Problem(str(path), "", f"not a readable CSV: {exc}")], source=str(path)
        ) from None
    problems = _problems(frame, source=str(path), truth=truth)
    if problems:
        raise DataError(problems, source=str(path))
    return _normalise(frame)


def read_submission(path: str | Path) -> pl.DataFrame:
    """Read and check an ``order_id,products`` submission CSV.

    Raises
    ------
    DataError
        Missing columns, non-integer or duplicate order ids, empty products,
        or tokens that are neither an integer nor ``None`` (all at once).
    """
    return _read(path, truth=False)


def read_truth(path: str | Path) -> pl.DataFrame:
    """Read and check an ``order_id,products`` truth CSV (as written by ``synth``).

    Raises
    ------
    DataError
        As `read_submission`, plus ``None`` mixed with products in one order.
    """
    return _read(path, truth=True)
