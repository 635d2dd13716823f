"""A plain transactions table (one row per line) → the Instacart layout.

`from_transactions` is the one door for a retailer's own data (and for the
Dunnhumby *Complete Journey* source, which goes through it too). Every choice
it makes is listed in its docstring and counted in `Converted.summary`, so a
converted dataset can be explained and mapped back to the original ids.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import polars as pl

from basketcast.data.dataset import DataError, Problem
from basketcast.data.schema import (
    AISLES,
    DEPARTMENTS,
    ORDERS,
    PRIOR,
    PRODUCTS,
    TABLES,
    TRAIN,
    TableSchema,
)
from basketcast.io import write_tables

__all__ = [
    "ID_KINDS",
    "Converted",
    "from_transactions",
    "read_table",
    "stable_unit_hash",
    "write_converted",
]

ID_KINDS = ("user", "order", "product")
UNKNOWN = "unknown"
_CAP_DAYS = 30  # Instacart caps days_since_prior_order at 30
_EPOCH_MAX_S = 4_102_444_800  # 2100-01-01: larger "seconds" are almost surely milliseconds
_N_EXAMPLES = 5

SummaryValue = int | float | str


@dataclass(frozen=True)
class Converted:
    """A dataset converted to the Instacart layout, with what it took to get there.

    Attributes
    ----------
    tables
        Table name (as in `basketcast.data.schema.TABLES`) → frame, typed as the
        schema says. `products`, `aisles` and `departments` are present only
        when a products table was given.
    truth
        `order_id, products` for the test orders: the space-separated product
        ids (ascending) of the products in the order that the user bought
        before, or ``"None"``; sorted by order_id, like a submission.
    id_maps
        Kind (``"user"``, ``"order"``, ``"product"``) → frame
        (`<kind>_id` Int64, `original` String), for the kinds whose ids were
        strings and were mapped to integers. Integer ids are kept as they are
        and have no map.
    summary
        Every decision taken, counted (merged lines, placeholder products,
        dropped single-order users, ...), in a stable order.
    """

    tables: dict[str, pl.DataFrame]
    truth: pl.DataFrame
    id_maps: dict[str, pl.DataFrame] = field(default_factory=dict)
    summary: dict[str, SummaryValue] = field(default_factory=dict)


def stable_unit_hash(value: object, *, seed: int = 0) -> float:
    """A number in [0, 1) fixed by `value`'s string form and `seed`.

    Unlike Python's `hash`, it does not change between processes, machines or
    versions (BLAKE2b of ``"<seed>:<str(value)>"``), so a user lands in the
    same split on every run.
    """
    digest = hashlib.blake2b(f"{seed}:{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def from_transactions(
    lines: pl.DataFrame | pl.LazyFrame,
    *,
    user: str,
    order: str,
    time: str,
    product: str,
    products: pl.DataFrame | pl.LazyFrame | None = None,
    product_key: str | None = None,
    product_name: str | None = None,
    aisle: str | None = None,
    department: str | None = None,
    test_share: float = 0.2,
    seed: int = 0,
    source: str = "transactions",
    products_source: str = "products",
) -> Converted:
    """Turn a table of purchase lines into the six Instacart tables plus the test truth.

    Parameters
    ----------
    lines
        One row per purchase line. Other columns are ignored.
    user, order, time, product
        Column names. Ids are integers (kept as they are) or strings (mapped
        to dense integers 1..n in sorted string order; maps in
        `Converted.id_maps`). `time` is a datetime (naive, or time-zone aware:
        day and hour are then read on that zone's clock), a date (hour 0), an
        ISO-8601 string, or a number of seconds since the Unix epoch (UTC).
    products
        Optional product catalogue, keyed by `product_key` (default: the
        `product` name); `product_name`, `aisle` and `department` name its
        columns (each optional). Aisles and departments are labels: string
        labels get ids 1..n in sorted order, integer labels are kept as ids.
    test_share
        Share of users whose target order is ``test`` rather than ``train``.
    seed
        Changes which users are ``test`` (see `stable_unit_hash`).
    source, products_source
        File names used in error messages.

    Returns
    -------
    Converted
        Tables, test truth, id maps and a summary of the decisions below.

    Raises
    ------
    DataError
        Missing columns, null or non-id values, unparseable times, an order id
        shared by two users, duplicate catalogue ids: every problem at once.

    Notes
    -----
    - **Orders**: an order's time is the earliest time of its lines. A user's
      orders are numbered 1..n by time, ties broken by order id (the original
      id; string ids in string order).
    - **order_dow**: 0 = Sunday … 6 = Saturday (the reading of Instacart's
      column that its Sunday/Monday peaks support). **order_hour_of_day**: the
      hour of the order's time.
    - **days_since_prior_order**: whole days elapsed since the user's previous
      order, ``floor((t_k - t_{k-1}) / 24 h)`` — elapsed time, not calendar
      dates, so it does not depend on the time zone — capped at 30 as in
      Instacart; null for a user's first order.
    - **Repeated lines**: a product appearing on several lines of one order is
      one line (Instacart has one row per order × product), kept at the
      position of its first line; the extra lines are counted as
      ``lines_merged``.
    - **add_to_cart_order**: lines ranked by line time, then by their position
      in `lines` (so it is stable: sort `lines` first to choose the order).
    - **reordered**: 1 when the user bought the product in an earlier order,
      computed from the history (any input ``reordered`` column is ignored).
    - **Targets**: each user's last order. ``test`` when
      ``stable_unit_hash(original user id, seed=seed) < test_share``, else
      ``train``; the share is therefore close to, not exactly, `test_share`.
      Test orders' lines are not written to ``order_products__train``; they
      become `Converted.truth`.
    - **Single-order users** have no history before their target, which the
      Instacart layout requires: they are dropped, with their lines, and
      counted (``users_single_order_dropped``, ``lines_single_order_dropped``).
    - **Unknown products**: products in `lines` missing from `products` get a
      placeholder row (name ``"unknown product <id>"``, aisle and department
      ``"unknown"``); their lines are kept and counted. Null aisle or
      department labels also map to ``"unknown"``; a null name becomes
      ``"product <id>"``.
    """
    if not 0.0 <= test_share <= 1.0:
        raise ValueError(f"test_share must be between 0 and 1, got {test_share}")
    roles = {"user": user, "order": order, "time": time, "product": product}
    if len(set(roles.values())) < len(roles):
        raise ValueError(
            f"user, order, time and product must be four different columns, got {roles}"
        )
    if products is None and any(
        c is not None for c in (product_key, product_name, aisle, department)
    ):
        raise ValueError("product_key, product_name, aisle and department need a products table")

    raw = _read_lines(lines, roles, source=source)
    catalogue = None
    if products is not None:
        catalogue = _read_products(
            products,
            key=product_key or product,
            name=product_name,
            aisle=aisle,
            department=department,
            source=products_source,
            line_dtype=raw.schema["p_raw"],
        )

    id_maps: dict[str, pl.DataFrame] = {}
    for kind, column in (("user", "u_raw"), ("order", "o_raw"), ("product", "p_raw")):
        values = raw.get_column(column)
        if kind == "product" and catalogue is not None:
            values = pl.concat([values, catalogue.get_column("p_raw")])
        if values.dtype == pl.String:
            id_maps[kind] = _dense_map(values, f"{kind}_id")
    df = _apply_maps(raw, id_maps)

    summary: dict[str, SummaryValue] = {"lines_in": raw.height}
    summary.update({f"{kind}_ids": "mapped" if kind in id_maps else "kept" for kind in ID_KINDS})

    # One row per order × product, at the position of its first line.
    n_before = df.height
    df = df.sort("order_id", "t", "row").unique(
        ["order_id", "product_id"], keep="first", maintain_order=True
    )
    summary["lines_merged"] = n_before - df.height

    orders = (
        df.group_by("order_id")
        .agg(pl.col("user_id").first(), pl.col("t").min())
        .sort("user_id", "t", "order_id")
        .with_columns(
            order_number=pl.int_range(1, pl.len() + 1).over("user_id"),
            n_orders=pl.len().over("user_id"),
        )
    )
    single = orders.filter(pl.col("n_orders") == 1)
    summary["users_single_order_dropped"] = single.height
    orders = orders.filter(pl.col("n_orders") > 1)
    n_before = df.height
    df = df.join(orders.select("order_id", "user_id", "order_number"), on=["order_id", "user_id"])
    summary["lines_single_order_dropped"] = n_before - df.height

    # Each user's last order is the target; a stable hash of the original id picks test.
    users = orders.filter(pl.col("order_number") == pl.col("n_orders")).select("user_id")
    users = users.with_columns(
        eval_set=_split(users.get_column("user_id"), id_maps, test_share, seed)
    )
    orders = orders.join(users, on="user_id", how="left").with_columns(
        eval_set=pl.when(pl.col("order_number") == pl.col("n_orders"))
        .then(pl.col("eval_set"))
        .otherwise(pl.lit("prior"))
    )
    gap_s = (pl.col("t") - pl.col("t").shift(1).over("user_id")).dt.total_seconds()
    orders = orders.with_columns(
        order_dow=pl.col("t").dt.weekday() % 7,  # Polars: Monday=1 … Sunday=7 → Sunday=0
        order_hour_of_day=pl.col("t").dt.hour(),
        days_since_prior_order=(gap_s // 86_400).clip(upper_bound=_CAP_DAYS),
        capped=gap_s >= (_CAP_DAYS + 1) * 86_400,
    )
    summary["gaps_capped_at_30_days"] = int(orders.get_column("capped").sum())

    df = (
        df.sort("order_id", "t", "row")
        .with_columns(
            add_to_cart_order=pl.int_range(1, pl.len() + 1).over("order_id"),
            reordered=(
                pl.col("order_number") > pl.col("order_number").min().over("user_id", "product_id")
            ),
        )
        .join(orders.select("order_id", "eval_set"), on="order_id")
    )

    tables: dict[str, pl.DataFrame] = {
        "orders": _conform(orders.sort("user_id", "order_number"), ORDERS),
        "order_products__prior": _conform(df.filter(pl.col("eval_set") == "prior"), PRIOR),
        "order_products__train": _conform(df.filter(pl.col("eval_set") == "train"), TRAIN),
    }
    test_orders = orders.filter(pl.col("eval_set") == "test").select("order_id")
    truth = _truth(test_orders, df.filter(pl.col("eval_set") == "test"))

    if catalogue is not None:
        product_tables, placeholders = _product_tables(catalogue, raw, id_maps)
        tables.update(product_tables)
        summary["products_placeholder"] = placeholders.height
        summary["lines_placeholder_product"] = raw.join(placeholders, on="p_raw", how="semi").height

    eval_counts = orders.get_column("eval_set").value_counts()
    count = dict(zip(eval_counts["eval_set"], eval_counts["count"], strict=True))
    summary.update(
        users=users.height,
        orders=orders.height,
        prior_orders=count.get("prior", 0),
        train_orders=count.get("train", 0),
        test_orders=count.get("test", 0),
        test_orders_none=truth.filter(pl.col("products") == "None").height,
        prior_lines=tables["order_products__prior"].height,
        train_lines=tables["order_products__train"].height,
        test_lines=df.height
        - tables["order_products__prior"].height
        - tables["order_products__train"].height,
    )
    if catalogue is not None:
        summary.update(
            products=tables["products"].height,
            aisles=tables["aisles"].height,
            departments=tables["departments"].height,
        )
    return Converted(tables=tables, truth=truth, id_maps=id_maps, summary=summary)


def write_converted(
    converted: Converted, out: str | Path, *, format: Literal["csv", "parquet"] = "csv"
) -> Path:
    """Write the tables (as `format`), `truth.csv` and `id_map_<kind>.csv` into `out`, all or nothing.

    Every file is completed in a staging folder before any is moved into
    place. Files of an earlier conversion that these outputs supersede are
    then removed: the same table in another format (which `load_dataset`
    would refuse as ambiguous), layout tables this conversion did not make,
    and id maps of kinds that are no longer mapped.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    suffix = {"csv": ".csv", "parquet": ".parquet"}[format]
    extras = {"truth": converted.truth}
    extras.update({f"id_map_{kind}": frame for kind, frame in converted.id_maps.items()})
    staging = Path(tempfile.mkdtemp(prefix=".staging.", dir=out))
    try:
        write_tables(converted.tables, staging, format=format)
        write_tables(extras, staging, format="csv")
        for name in converted.tables:
            os.replace(staging / f"{name}{suffix}", out / f"{name}{suffix}")
        for name in extras:
            os.replace(staging / f"{name}.csv", out / f"{name}.csv")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    # Superseded files: a table in another format (load_dataset refuses two files for one
    # table), optional tables this conversion has not made, id maps of unmapped kinds.
    for name in TABLES:
        keep = {suffix} if name in converted.tables else set()
        for other in {".csv", ".csv.gz", ".parquet"} - keep:
            (out / f"{name}{other}").unlink(missing_ok=True)
    for kind in ID_KINDS:
        if kind not in converted.id_maps:
            (out / f"id_map_{kind}.csv").unlink(missing_ok=True)
    return out


def read_table(path: str | Path, *, id_columns: Sequence[str] = ()) -> pl.DataFrame:
    """Read a CSV, CSV.gz or Parquet file for `from_transactions`.

    A CSV's `id_columns` are read as text and become Int64 only when every
    value is a plain integer (no leading zeros, sign or spaces): ids such as
    ``"00123"`` stay strings, so they are mapped, not silently changed.
    Other CSV columns are inferred (a time column stays text and is parsed
    as ISO-8601 by `from_transactions`). Parquet columns are read as stored.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if path.name.endswith(".parquet"):
        return pl.read_parquet(path)
    header = pl.read_csv(path, n_rows=0).columns
    text = [c for c in id_columns if c in header]
    frame = pl.read_csv(
        path, schema_overrides=dict.fromkeys(text, pl.String), infer_schema_length=10_000
    )
    return frame.with_columns(_integer_or_text(frame.get_column(c)) for c in text)


_PLAIN_INTEGER = r"^-?(0|[1-9][0-9]{0,17})$"  # ≤ 18 digits always fits Int64


def _integer_or_text(values: pl.Series) -> pl.Series:
    plain = values.drop_nulls().str.contains(_PLAIN_INTEGER)
    if plain.len() and plain.all():
        return values.cast(pl.Int64)
    return values


# --- reading and checking ---------------------------------------------------------------


def _id_dtype_ok(dtype: pl.DataType) -> bool:
    return dtype.is_integer() or dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum)


def _examples(values: pl.Series) -> tuple[str, ...]:
    return tuple(str(v) for v in values.head(_N_EXAMPLES).to_list())


def _row_examples(rows: pl.Series) -> tuple[str, ...]:
    return tuple(f"row {r + 1}" for r in rows.head(_N_EXAMPLES).to_list())


def _read_lines(
    lines: pl.DataFrame | pl.LazyFrame, roles: Mapping[str, str], *, source: str
) -> pl.DataFrame:
    """Check and collect the four columns as u_raw, o_raw, p_raw, t (Datetime) and row."""
    frame = lines.lazy()
    schema = frame.collect_schema()
    available = ", ".join(schema.names())
    problems = [
        Problem(source, column, f"missing column (the {role} column); the file has: {available}")
        for role, column in roles.items()
        if column not in schema
    ]
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
        )
        .with_row_index("row")
        .collect()
    )
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


def _read_products(
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


# --- building ---------------------------------------------------------------------------


def _dense_map(values: pl.Series, id_name: str) -> pl.DataFrame:
    """Strings → 1..n in sorted order, so the numbering does not depend on row order."""
    originals = values.unique().sort()
    return pl.DataFrame(
        {
            id_name: pl.int_range(1, originals.len() + 1, dtype=pl.Int64, eager=True),
            "original": originals,
        }
    )


def _apply_maps(raw: pl.DataFrame, id_maps: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    df = raw
    for kind, column in (("user", "u_raw"), ("order", "o_raw"), ("product", "p_raw")):
        id_name = f"{kind}_id"
        if kind in id_maps:
            mapping = id_maps[kind].rename({"original": column})
            df = df.join(mapping, on=column, how="left")
        else:
            df = df.with_columns(pl.col(column).alias(id_name))
    return df.select("row", "user_id", "order_id", "product_id", "t")


def _original_user(user_ids: pl.Series, id_maps: Mapping[str, pl.DataFrame]) -> pl.Series:
    if "user" not in id_maps:
        return user_ids.cast(pl.String)
    frame = user_ids.to_frame().join(
        id_maps["user"], on="user_id", how="left", maintain_order="left"
    )
    return frame.get_column("original")


def _split(
    user_ids: pl.Series, id_maps: Mapping[str, pl.DataFrame], test_share: float, seed: int
) -> pl.Series:
    originals = _original_user(user_ids, id_maps).to_list()
    test = [stable_unit_hash(u, seed=seed) < test_share for u in originals]
    return pl.Series("eval_set", ["test" if t else "train" for t in test], dtype=pl.String)


def _truth(test_orders: pl.DataFrame, test_lines: pl.DataFrame) -> pl.DataFrame:
    reordered = (
        test_lines.filter(pl.col("reordered"))
        .sort("product_id")
        .group_by("order_id")
        .agg(pl.col("product_id").cast(pl.String).str.join(" ").alias("products"))
    )
    return (
        test_orders.join(reordered, on="order_id", how="left")
        .with_columns(pl.col("products").fill_null("None"))
        .select(pl.col("order_id").cast(pl.Int64), pl.col("products").cast(pl.String))
        .sort("order_id")
    )


def _label_table(labels: pl.Series, id_name: str, name: str) -> tuple[pl.DataFrame, pl.Expr]:
    """Aisle/department table from labels (null = unknown), and an expr mapping labels to ids."""
    if labels.dtype == pl.Int64:
        present = labels.drop_nulls().unique().sort()
        table = pl.DataFrame({id_name: present, name: present.cast(pl.String)})
        if not labels.null_count():
            return table, pl.col("label")
        unknown_id = int(present.max()) + 1 if present.len() else 1  # type: ignore[arg-type]
        table = table.vstack(pl.DataFrame({id_name: [unknown_id], name: [UNKNOWN]}))
        return table, pl.col("label").fill_null(unknown_id)
    names = labels.fill_null(UNKNOWN).unique().sort()
    table = pl.DataFrame(
        {id_name: pl.int_range(1, names.len() + 1, dtype=pl.Int64, eager=True), name: names}
    )
    return table, pl.col("label").fill_null(UNKNOWN)


def _product_tables(
    catalogue: pl.DataFrame, raw: pl.DataFrame, id_maps: Mapping[str, pl.DataFrame]
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """products, aisles, departments (with placeholders), and the placeholder p_raw ids."""
    placeholders = (
        raw.select("p_raw")
        .unique()
        .join(catalogue.select("p_raw"), on="p_raw", how="anti")
        .sort("p_raw")
    )
    text = pl.col("p_raw").cast(pl.String)
    full = pl.concat(
        [
            catalogue.with_columns(pl.col("name").fill_null(pl.lit("product ") + text)),
            placeholders.with_columns(
                name=pl.lit("unknown product ") + text,
                aisle=pl.lit(None, dtype=catalogue.schema["aisle"]),
                department=pl.lit(None, dtype=catalogue.schema["department"]),
            ),
        ]
    )
    out: dict[str, pl.DataFrame] = {}
    for column, id_name, schema in (
        ("aisle", "aisle_id", AISLES),
        ("department", "department_id", DEPARTMENTS),
    ):
        table, fill = _label_table(full.get_column(column), id_name, column)
        out[schema.name] = _conform(table, schema)
        filled = full.rename({column: "label"}).with_columns(fill.alias("label"))
        if full.schema[column] == pl.Int64:
            full = filled.rename({"label": id_name})  # integer labels are their own ids
        else:
            full = filled.join(table.rename({column: "label"}), on="label", how="left").drop(
                "label"
            )
    if "product" in id_maps:
        full = full.join(id_maps["product"].rename({"original": "p_raw"}), on="p_raw", how="left")
    else:
        full = full.with_columns(product_id=pl.col("p_raw"))
    products = full.rename({"name": "product_name"}).sort("product_id")
    tables = {PRODUCTS.name: _conform(products, PRODUCTS), **out}
    return tables, placeholders


def _conform(frame: pl.DataFrame, schema: TableSchema) -> pl.DataFrame:
    """Exactly the schema's columns, in its order, with its dtypes."""
    return frame.select(pl.col(name).cast(dtype) for name, dtype in schema.columns.items())
