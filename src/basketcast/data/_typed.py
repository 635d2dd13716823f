"""The strict reading shared by the validation rules: typed frames, problems, examples.

Values are cast to the dtypes of `basketcast.data.schema` strictly: a value
that does not fit is a problem (file, column, row count, examples), never a
crash and never a silent null.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from basketcast.data._files import first_bad_utf8, first_broken_row
from basketcast.data.dataset import Problem
from basketcast.data.schema import ORDERS, PRODUCTS, DType, TableSchema

N_EXAMPLES = 5
_MAX_EXAMPLE_CHARS = 100
_BAD = "__bad__"  # prefix of the per-column "value did not cast" flags; no schema column starts with it
_ROW = "__row__"
# Columns that may be empty: the first order has no prior order; names are descriptive only.
_NULLABLE = {
    (ORDERS.name, "days_since_prior_order"),
    (PRODUCTS.name, "product_name"),
    ("aisles", "aisle"),
    ("departments", "department"),
}


# --- context shared by the rules ---------------------------------------------------------------


@dataclass
class _Context:
    """The typed frames read so far, their file names, and the problems found."""

    files: dict[str, str]
    paths: dict[str, Path] = field(default_factory=dict)
    frames: dict[str, pl.DataFrame] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def has(self, name: str, *columns: str) -> bool:
        frame = self.frames.get(name)
        return frame is not None and all(c in frame.columns for c in columns)

    def add(
        self, name: str, column: str, message: str, count: int, examples: Iterable[str] = ()
    ) -> None:
        self.problems.append(Problem(self.files[name], column, message, count, tuple(examples)))

    def rows(
        self, name: str, column: str, mask: pl.Expr, message: str, *, show: Iterable[str] = ()
    ) -> None:
        """Report the rows of table `name` where `mask` is true (null counts as false)."""
        frame = self.frames[name]
        count = frame.select(mask.sum()).item()
        if count:
            # Context columns help the reader, but one may itself be missing from the file.
            shown = [c for c in dict.fromkeys([*show, column]) if c in frame.columns]
            examples = (
                frame.with_row_index(_ROW, offset=1)
                .filter(mask)
                .head(N_EXAMPLES)
                .select(_ROW, *shown)
            )
            self.add(name, column, message, count, _format(examples))


def _format(frame: pl.DataFrame) -> list[str]:
    """One short string per row: "row 3: order_id=12, product_id=5"."""
    out = []
    for row in frame.iter_rows(named=True):
        head = f"row {row.pop(_ROW)}: " if _ROW in row else ""
        text = head + ", ".join(f"{k}={_value(v)}" for k, v in row.items())
        out.append(
            text if len(text) <= _MAX_EXAMPLE_CHARS else text[: _MAX_EXAMPLE_CHARS - 1] + "…"
        )
    return out


def _value(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list):
        return " ".join(map(str, value))
    return str(value)


def _not_null(*columns: str) -> pl.Expr:
    return pl.all_horizontal(pl.col(c).is_not_null() for c in columns)


# --- reading: columns present, cast strictly --------------------------------------------------


def _read_typed(ctx: _Context, lf: pl.LazyFrame, table: TableSchema) -> pl.DataFrame | None:
    """Collect `lf` cast to `table`'s dtypes, reporting missing columns and values that do not fit."""
    try:
        stored = lf.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as exc:
        _unreadable(ctx, table.name, exc)
        return None
    found = ", ".join(stored.names())
    if not set(table.columns) & set(stored.names()):  # one problem, not one per column
        message = f"none of its columns ({', '.join(table.columns)}) found; header: {found!r}"
        # One name holding the others: another separator than the comma basketcast reads.
        separator = next((s for s in (";", "\t", "|") if s in found), None)
        if separator is not None:
            message += f"; the file seems separated by {separator!r}, and CSV here means commas"
        ctx.add(table.name, "", message, 0)
        return None
    casts: dict[str, pl.Expr] = {}
    for column, dtype in table.columns.items():
        if column not in stored:
            ctx.add(table.name, column, f"missing column (found: {found})", 0)
        elif not _castable(stored[column], dtype):
            ctx.add(
                table.name,
                column,
                f"stored as {stored[column]}, which cannot be read as {dtype}",
                0,
            )
        else:
            casts[column] = _cast(pl.col(column), stored[column], dtype)
    bad = {c: pl.col(c).is_not_null() & expr.is_null() for c, expr in casts.items()}
    for column, expr in casts.items():
        if table.columns[column].is_integer() and stored[column].is_float():
            # A float that is not whole would be truncated by the cast; flag it instead.
            bad[column] = bad[column] | (expr.cast(pl.Float64) != pl.col(column))
    query = lf.select(
        *(expr.alias(c) for c, expr in casts.items()),
        *(flag.alias(_BAD + c) for c, flag in bad.items()),
    )
    try:
        # The streaming engine casts text column by chunk, so the 32M text lines never sit in memory.
        collected = query.collect(engine="streaming")
    except (pl.exceptions.PolarsError, OSError) as exc:
        _unreadable(ctx, table.name, exc)
        return None
    counts = collected.select(pl.col(_BAD + c).sum() for c in bad).row(0) if bad else ()
    collected, counts = _accept_whole_decimals(lf, table, stored, collected, bad, counts)
    for column, count in zip(bad, counts, strict=True):
        if count:
            _report_bad(ctx, lf, table, column, bad[column], count)
    # Nulls that were null in the file (unreadable values are reported above, not twice);
    # `validate` replaces this frame with the typed one once this returns.
    ctx.frames[table.name] = collected
    for column in casts:
        if (table.name, column) not in _NULLABLE:
            mask = pl.col(column).is_null() & ~pl.col(_BAD + column)
            ctx.rows(table.name, column, mask, "missing values (null or empty)")
    return collected.select(list(casts))


_WHOLE = r"^\s*[+-]?[0-9]+\s*$"
_WHOLE_DECIMAL = r"^\s*[+-]?[0-9]+\.0*\s*$"  # "12.0": a whole number as a float export writes it


def _accept_whole_decimals(
    lf: pl.LazyFrame,
    table: TableSchema,
    stored: pl.Schema,
    collected: pl.DataFrame,
    bad: dict[str, pl.Expr],
    counts: tuple[int, ...],
) -> tuple[pl.DataFrame, tuple[int, ...]]:
    """Read text integers written as whole decimals ("12.0", as a float column exports) as
    the numbers they are, as a Parquet float column's whole values are read.

    Only text columns that failed the cast are read again, so valid files pay nothing;
    `bad` is updated for the examples of what is still wrong.
    """
    redo = [
        c
        for c, n in zip(bad, counts, strict=True)
        if n and table.columns[c].is_integer() and stored[c] == pl.String
    ]
    if not redo:
        return collected, counts
    fixed = {}
    for c in redo:
        text = pl.col(c).str.strip_chars()
        as_whole = pl.when(text.str.contains(_WHOLE_DECIMAL).fill_null(False))
        fixed[c] = as_whole.then(text.str.replace(r"\.0*$", "")).otherwise(pl.col(c))
        fixed[c] = fixed[c].cast(table.columns[c], strict=False)
        bad[c] = pl.col(c).is_not_null() & fixed[c].is_null()  # the examples read this mask
    again = lf.select(
        *(fixed[c].alias(c) for c in redo), *(bad[c].alias(_BAD + c) for c in redo)
    ).collect(engine="streaming")
    collected = collected.with_columns(again)
    counts = collected.select(pl.col(_BAD + c).sum() for c in bad).row(0)
    return collected, counts


def _report_bad(
    ctx: _Context, lf: pl.LazyFrame, table: TableSchema, column: str, mask: pl.Expr, count: int
) -> None:
    """Report a column's values that did not cast; whole numbers too large apart ("out of range")."""
    dtype = table.columns[column]
    rows = (
        lf.with_row_index(_ROW, offset=1).filter(mask).select(_ROW, pl.col(column).cast(pl.String))
    )
    groups = {"other": pl.lit(True)}
    if dtype.is_integer():
        whole = pl.col(column).str.contains(_WHOLE).fill_null(False)
        groups = {"range": whole, "other": ~whole}
    found = rows.with_columns(**{f"__{g}": e for g, e in groups.items()}).collect()
    for group in groups:
        chosen = found.filter(pl.col(f"__{group}"))
        if chosen.is_empty():
            continue
        message = _type_message(dtype)
        if group == "range":
            message = "whole numbers out of range" + message.removeprefix(
                "values that are not whole numbers"
            )
        n = chosen.height if len(groups) > 1 else count
        ctx.add(
            table.name, column, message, n,
            _format(chosen.head(N_EXAMPLES).select(_ROW, column)),
        )  # fmt: skip


def _unreadable(ctx: _Context, name: str, exc: BaseException) -> None:
    """Report a table the reader refused; for text that is not UTF-8, with the first bad line."""
    path = ctx.paths.get(name)
    if path is not None and "utf-8" in str(exc).lower() and not path.name.endswith(".parquet"):
        try:
            bad = first_bad_utf8(path)
        except (OSError, EOFError):
            bad = None
        if bad is not None:
            first, count = bad
            message = f"not UTF-8 text (first at line {first}); save it as UTF-8"
            ctx.add(name, "", message, count, (f"line {first}",))
            return
    if path is not None and not path.name.endswith(".parquet"):
        try:
            broken = first_broken_row(path)
        except (OSError, EOFError, UnicodeDecodeError):
            broken = None
        if broken is not None:  # a row of another width, a quote that never closes
            ctx.add(name, "", f"cannot be read: {broken}", 0)
            return
    ctx.add(name, "", f"cannot be read: {_first_line(exc)}", 0)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _castable(stored: pl.DataType, target: DType) -> bool:
    """Whether a column stored as `stored` can be read as `target` value by value."""
    text = stored in (pl.String, pl.Null) or isinstance(stored, pl.Categorical | pl.Enum)
    if target == pl.String:
        return text or stored.is_numeric()
    if isinstance(target, pl.Enum):
        return text
    return text or stored.is_numeric() or stored == pl.Boolean


def _cast(column: pl.Expr, stored: pl.DataType, target: DType) -> pl.Expr:
    if isinstance(stored, pl.Categorical | pl.Enum) and stored != target:
        column = column.cast(pl.String)  # categories are matched by name, not by code
    return column.cast(target, strict=False)


def _type_message(dtype: DType) -> str:
    if isinstance(dtype, pl.Enum):
        allowed = ", ".join(repr(c) for c in dtype.categories)
        return f"values other than {allowed}"
    if dtype.is_integer():
        for small, bits in ((pl.Int8, 8), (pl.Int16, 16), (pl.Int32, 32)):
            if dtype == small:
                low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
                return f"values that are not whole numbers from {low:,} to {high:,} ({dtype})"
        return f"values that are not whole numbers ({dtype})"
    return f"values that are not numbers ({dtype})"
