"""A plain transactions table (one row per line) → the Instacart layout.

`from_transactions` is the one door for a retailer's own data (and for the
Dunnhumby *Complete Journey* source, which goes through it too). Every choice
it makes is listed in its docstring and counted in `Converted.summary`, so a
converted dataset can be explained and mapped back to the original ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import polars as pl

from basketcast.data.dataset import DataError, Problem
from basketcast.data.schema import ORDERS, PRIOR, TABLES, TRAIN
from basketcast.data.sources._tx_build import (
    UNKNOWN,
    apply_maps,
    conform,
    dense_map,
    product_tables,
    split,
    stable_unit_hash,
    truth,
)
from basketcast.data.sources._tx_read import read_lines, read_products, read_table
from basketcast.errors import UsageError
from basketcast.io import write_folder

__all__ = [
    "ID_KINDS",
    "UNKNOWN",
    "Converted",
    "from_transactions",
    "read_table",
    "stable_unit_hash",
    "write_converted",
]

ID_KINDS = ("user", "order", "product")
_CAP_DAYS = 30  # Instacart caps days_since_prior_order at 30

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


def from_transactions(
    lines: pl.DataFrame | pl.LazyFrame,
    *,
    user: str,
    order: str,
    time: str,
    product: str,
    quantity: str | None = None,
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
    quantity
        Optional column of quantities: lines with a quantity <= 0 (returns,
        voids) are dropped and counted (``lines_quantity_le_0_dropped``);
        without it every line counts as a purchase.
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
        raise UsageError(f"--test-share must be between 0 and 1, got {test_share}")
    roles = {"user": user, "order": order, "time": time, "product": product}
    if len(set(roles.values())) < len(roles):
        raise UsageError(
            f"user, order, time and product must be four different columns, got {roles}"
        )
    if products is None and any(
        c is not None for c in (product_key, product_name, aisle, department)
    ):
        raise UsageError("--product-key, --product-name, --aisle and --department need --products")
    if quantity is not None and quantity in roles.values():
        raise UsageError(f"--quantity {quantity!r} is already the column of another role")

    raw = read_lines(lines, roles, source=source, quantity=quantity)
    dropped = 0
    if quantity is not None:
        n_in = raw.height
        raw = raw.filter(pl.col("q") > 0).drop("q")
        dropped = n_in - raw.height
        if raw.height == 0:
            raise DataError(
                [Problem(source, quantity, f"no line has a quantity above 0 ({n_in:,} lines)")],
                source=source,
            )
    catalogue = None
    if products is not None:
        catalogue = read_products(
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
            id_maps[kind] = dense_map(values, f"{kind}_id")
    df = apply_maps(raw, id_maps)

    summary: dict[str, SummaryValue] = {"lines_in": raw.height + dropped}
    if quantity is not None:
        summary["lines_quantity_le_0_dropped"] = dropped
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
    if orders.height == 0:
        raise DataError(
            [Problem(source, roles["user"],
                     "no user has two or more orders (a target order needs a history)",
                     single.height)],
            source=source,
        )  # fmt: skip
    n_before = df.height
    df = df.join(orders.select("order_id", "user_id", "order_number"), on=["order_id", "user_id"])
    summary["lines_single_order_dropped"] = n_before - df.height

    # Each user's last order is the target; a stable hash of the original id picks test.
    users = orders.filter(pl.col("order_number") == pl.col("n_orders")).select("user_id")
    users = users.with_columns(
        eval_set=split(users.get_column("user_id"), id_maps, test_share, seed)
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
        "orders": conform(orders.sort("user_id", "order_number"), ORDERS),
        "order_products__prior": conform(df.filter(pl.col("eval_set") == "prior"), PRIOR),
        "order_products__train": conform(df.filter(pl.col("eval_set") == "train"), TRAIN),
    }
    test_orders = orders.filter(pl.col("eval_set") == "test").select("order_id")
    test_truth = truth(test_orders, df.filter(pl.col("eval_set") == "test"))

    if catalogue is not None:
        made, placeholders = product_tables(catalogue, raw, id_maps)
        tables.update(made)
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
        test_orders_none=test_truth.filter(pl.col("products") == "None").height,
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
    return Converted(tables=tables, truth=test_truth, id_maps=id_maps, summary=summary)


def write_converted(
    converted: Converted, out: str | Path, *, format: Literal["csv", "parquet"] = "csv"
) -> Path:
    """Write the tables (as `format`), `truth.csv` and `id_map_<kind>.csv` into `out`, as one unit.

    Files of an earlier conversion that these outputs supersede are removed in
    the same unit (`basketcast.io.write_folder`): the same table in another
    format (which `load_dataset` would refuse as ambiguous), layout tables this
    conversion did not make, and id maps of kinds that are no longer mapped.
    """
    suffix = {"csv": ".csv", "parquet": ".parquet"}[format]
    files = {f"{name}{suffix}": frame for name, frame in converted.tables.items()}
    files["truth.csv"] = converted.truth
    files.update({f"id_map_{kind}.csv": frame for kind, frame in converted.id_maps.items()})
    supersede = [f"{name}{other}" for name in TABLES for other in (".csv", ".csv.gz", ".parquet")]
    supersede += [f"id_map_{kind}.csv" for kind in ID_KINDS]
    return write_folder(out, files, supersede=supersede)
