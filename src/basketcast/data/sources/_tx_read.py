"""Reading a transactions table and its catalogue for `from_transactions`: files, columns, checks.

Every problem of a file is a `DataError` naming the file, the column, how
many rows and a few examples: a file that is not a file, empty, not UTF-8
(with the first bad line), not CSV or Parquet, header-only; missing columns,
null ids, unparseable times, an order id shared by users.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl

from basketcast.data._files import first_bad_utf8
from basketcast.data.dataset import DataError, Problem

__all__ = ["read_lines", "read_products", "read_table"]

_EPOCH_MAX_S = 4_102_444_800  # 2100-01-01: larger "seconds" are almost surely milliseconds
_N_EXAMPLES = 5


def _file_problem(path: Path) -> Problem | None:
    """Why `path` cannot be read as a table file, before any parser sees it."""
    if path.is_symlink() and not path.exists():
        return Problem(
            str(path), "", "is not a readable file (a dangling symbolic link or a link loop)"
        )
    if not path.exists():
        return None
    if not path.is_file():
        return Problem(str(path), "", "is not a readable file (it is a folder or a device)")
    if path.stat().st_size == 0:
        return Problem(str(path), "", "is empty (0 bytes)")
    return None


def _unreadable(path: Path, exc: BaseException) -> DataError:
    source = str(path)
    if not path.name.endswith(".parquet"):
        try:
            bad = first_bad_utf8(path)
        except (OSError, EOFError):
            bad = None
        if bad is not None:
            first, count = bad
            return DataError(
                [Problem(source, "", f"not UTF-8 text (first at line {first}); save it as UTF-8",
                         count, (f"line {first}",))],
                source=source,
            )  # fmt: skip
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    kind = "Parquet" if path.name.endswith(".parquet") else "CSV"
    return DataError([Problem(source, "", f"not a readable {kind} file: {reason}")], source=source)


def read_table(path: str | Path, *, id_columns: Sequence[str] = ()) -> pl.DataFrame:
    """Read a CSV, CSV.gz or Parquet file for `from_transactions`.

    A CSV's `id_columns` are read as text and become Int64 only when every
    value is a plain integer (no leading zeros, sign or spaces): ids such as
    ``"00123"`` stay strings, so they are mapped, not silently changed.
    Other CSV columns are inferred (a time column stays text and is parsed
    as ISO-8601 by `from_transactions`). Parquet columns are read as stored.
    """
    path = Path(path)
    problem = _file_problem(path)
    if problem is not None:
        raise DataError([problem], source=str(path))
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        if path.name.endswith(".parquet"):
            return pl.read_parquet(path)
        header = pl.read_csv(path, n_rows=0).columns
        text = [c for c in id_columns if c in header]
        frame = pl.read_csv(
            path, schema_overrides=dict.fromkeys(text, pl.String), infer_schema_length=10_000
        )
    except (pl.exceptions.PolarsError, OSError, EOFError, UnicodeDecodeError) as exc:
        raise _unreadable(path, exc) from None
    return frame.with_columns(_integer_or_text(frame.get_column(c)) for c in text)


_PLAIN_INTEGER = r"^-?(0|[1-9][0-9]{0,17})$"  # ≤ 18 digits always fits Int64


def _integer_or_text(values: pl.Series) -> pl.Series:
    plain = values.drop_nulls().str.contains(_PLAIN_INTEGER)
    if plain.len() and plain.all():
        return values.cast(pl.Int64)
    return values


def _id_dtype_ok(dtype: pl.DataType) -> bool:
    return dtype.is_integer() or dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum)


def _examples(values: pl.Series) -> tuple[str, ...]:
    return tuple(str(v) for v in values.head(_N_EXAMPLES).to_list())


def _row_examples(rows: pl.Series) -> tuple[str, ...]:
    return tuple(f"row {r + 1}" for r in rows.head(_N_EXAMPLES).to_list())


def read_lines(
    lines: pl.DataFrame | pl.LazyFrame,
    roles: Mapping[str, str],
    *,
    source: str,
    quantity: str | None = None,
) -> pl.DataFrame:
    """Check and collect the four columns as u_raw, o_raw, p_raw, t (Datetime) and row (+ q)."""
    frame = lines.lazy()
    schema = frame.collect_schema()
    available = ", ".join(schema.names())
    wanted = dict(roles) | ({"quantity": quantity} if quantity is not None else {})
    problems = [
        Problem(source, column, f"missing column (the {role} column); the file has: {available}")
        for role, column in wanted.items()
        if column not in schema
    ]
    if quantity is not None and quantity in schema:
        stored = schema[quantity]
        if not (stored.is_numeric() or stored == pl.String):
            problems.append(Problem(source, quantity, f"quantities must be numbers, not {stored}"))
    for role in ("user", "order", "product"):
        column = roles[role]
        if column in schema and not _id_dtype_ok(schema[column]):
            problems.append(
                Problem(
                    source, column, f"{role} ids must be integers or strings, not {schema[column]}"
                )
            )
    if problems:
        raise DataError(problems, source=source)

    def id_expr(column: str, alias: str) -> pl.Expr:
        expr = pl.col(column)
        if schema[column].is_integer():
            return expr.cast(pl.Int64, strict=False).alias(
                alias
            )  # UInt64 overflow → null → reported
        return expr.cast(pl.String).alias(alias)

    raw = (
        frame.select(
            id_expr(roles["user"], "u_raw"),
            id_expr(roles["order"], "o_raw"),
            id_expr(roles["product"], "p_raw"),
            pl.col(roles["time"]).alias("t_in"),
            *(
                [
                    pl.col(quantity).cast(pl.Float64, strict=False).alias("q"),
                    pl.col(quantity).is_not_null().alias("q_given"),
                ]
                if quantity is not None
                else []
            ),
        )
        .with_row_index("row")
        .collect()
    )
    if raw.height == 0:
        raise DataError(
            [Problem(source, "", "no lines: the file holds a header but no rows")], source=source
        )
    if quantity is not None:
        bad = raw.filter(pl.col("q").is_null()).get_column("row")
        if bad.len():
            problems.append(
                Problem(source, quantity, "null or non-numeric quantities", bad.len(),
                        _row_examples(bad))
            )  # fmt: skip
        raw = raw.drop("q_given")
    for alias, role in (
        ("u_raw", "user"),
        ("o_raw", "order"),
        ("p_raw", "product"),
        ("t_in", "time"),
    ):
        bad = raw.filter(pl.col(alias).is_null()).get_column("row")
        if bad.len():
            what = "null or out-of-range ids" if alias != "t_in" else "null times"
            problems.append(Problem(source, roles[role], what, bad.len(), _row_examples(bad)))
    time_values, time_problem = _to_datetime(
        raw.get_column("t_in"), raw.get_column("row"), source, roles["time"]
    )
    if time_problem is not None:
        problems.append(time_problem)
    raw = raw.with_columns(t=time_values).drop("t_in")

    shared = (
        raw.filter(pl.col("o_raw").is_not_null() & pl.col("u_raw").is_not_null())
        .group_by("o_raw")
        .agg(pl.col("u_raw").unique().sort())
        .filter(pl.col("u_raw").list.len() > 1)
        .sort("o_raw")
    )
    if shared.height:
        examples = tuple(
            f"order {o} has users {', '.join(map(str, us[:3]))}"
            for o, us in shared.head(_N_EXAMPLES).iter_rows()
        )
        problems.append(
            Problem(
                source,
                roles["order"],
                "order ids shared by more than one user",
                shared.height,
                examples,
            )
        )
    if problems:
        raise DataError(problems, source=source)
    return raw


def _to_datetime(
    values: pl.Series, rows: pl.Series, source: str, column: str
) -> tuple[pl.Series, Problem | None]:
    """The time column as Datetime, or the problem that stops it (unparseable or epoch ms)."""
    dtype = values.dtype
    if isinstance(dtype, pl.Datetime):
        return values, None
    if dtype == pl.Date:
        return values.cast(pl.Datetime("us")), None
    if dtype == pl.String:
        try:
            parsed = values.str.to_datetime(time_unit="us", strict=False)
        except pl.exceptions.PolarsError:
            parsed = pl.Series(values.name, [None] * values.len(), dtype=pl.Datetime("us"))
        bad = values.is_not_null() & parsed.is_null()
        if bad.any():
            bad_rows = rows.filter(bad).head(_N_EXAMPLES).to_list()
            bad_values = values.filter(bad).head(_N_EXAMPLES).to_list()
            examples = tuple(
                f"row {r + 1}: {v!r}" for r, v in zip(bad_rows, bad_values, strict=True)
            )
            message = "times that are not ISO-8601 datetimes"
            return parsed, Problem(source, column, message, int(bad.sum()), examples)
        return parsed, None
    if dtype.is_numeric():
        big = values.abs() > _EPOCH_MAX_S
        if big.any():
            return values, Problem(
                source,
                column,
                "numeric times must be seconds since 1970 (these look like milliseconds)",
                int(big.sum()),
                _row_examples(rows.filter(big)),
            )
        micros = (values.cast(pl.Float64) * 1_000_000).round().cast(pl.Int64)
        return pl.from_epoch(micros, time_unit="us").alias(values.name), None
    return values, Problem(
        source, column, f"times must be datetimes, dates, ISO strings or epoch seconds, not {dtype}"
    )


def read_products(
    products: pl.DataFrame | pl.LazyFrame,
    *,
    key: str,
    name: str | None,
    aisle: str | None,
    department: str | None,
    source: str,
    line_dtype: pl.DataType,
) -> pl.DataFrame:
    """The catalogue as p_raw (same dtype as the lines' ids), name, aisle, department."""
    frame = products.lazy()
    schema = frame.collect_schema()
    available = ", ".join(schema.names())
    wanted = {"product id": key, "product name": name, "aisle": aisle, "department": department}
    problems = [
        Problem(source, column, f"missing column (the {role} column); the file has: {available}")
        for role, column in wanted.items()
        if column is not None and column not in schema
    ]
    if not problems and not _id_dtype_ok(schema[key]):
        problems.append(
            Problem(source, key, f"product ids must be integers or strings, not {schema[key]}")
        )
    if problems:
        raise DataError(problems, source=source)

    def label(column: str | None, alias: str) -> pl.Expr:
        if column is None:
            return pl.lit(None, dtype=pl.String).alias(alias)
        if schema[column].is_integer():
            return pl.col(column).cast(pl.Int64).alias(alias)
        return pl.col(column).cast(pl.String).alias(alias)

    # Catalogue ids take the lines' id type, so that "42" and 42 name one product.
    target = pl.Int64 if line_dtype == pl.Int64 else pl.String
    cat = (
        frame.select(
            pl.col(key).cast(target, strict=False).alias("p_raw"),
            pl.col(key).cast(pl.String).alias("key_text"),
            label(name, "name").cast(pl.String),
            label(aisle, "aisle"),
            label(department, "department"),
        )
        .with_row_index("row")
        .collect()
    )
    unusable = cat.filter(pl.col("p_raw").is_null())
    if unusable.height:
        nulls = unusable.filter(pl.col("key_text").is_null()).get_column("row")
        if nulls.len():
            problems.append(
                Problem(source, key, "null product ids", nulls.len(), _row_examples(nulls))
            )
        other = unusable.filter(pl.col("key_text").is_not_null())
        if other.height:
            problems.append(
                Problem(
                    source,
                    key,
                    "product ids that are not integers, while the lines' product ids are",
                    other.height,
                    _examples(other.get_column("key_text")),
                )
            )
    dupes = cat.filter(pl.col("p_raw").is_not_null() & pl.col("p_raw").is_duplicated())
    if dupes.height:
        ids = dupes.get_column("p_raw").unique().sort()
        problems.append(Problem(source, key, "duplicate product ids", dupes.height, _examples(ids)))
    if problems:
        raise DataError(problems, source=source)
    return cat.drop("row", "key_text")
