"""Building the Instacart tables for `from_transactions`: id maps, the test split, truth, products."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import polars as pl

from basketcast.data.schema import AISLES, DEPARTMENTS, PRODUCTS, TableSchema

__all__ = [
    "UNKNOWN",
    "apply_maps",
    "conform",
    "dense_map",
    "product_tables",
    "split",
    "stable_unit_hash",
    "truth",
]

UNKNOWN = "unknown"


def stable_unit_hash(value: object, *, seed: int = 0) -> float:
    """A number in [0, 1) fixed by `value`'s string form and `seed`.

    Unlike Python's `hash`, it does not change between processes, machines or
    versions (BLAKE2b of ``"<seed>:<str(value)>"``), so a user lands in the
    same split on every run.
    """
    digest = hashlib.blake2b(f"{seed}:{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def dense_map(values: pl.Series, id_name: str) -> pl.DataFrame:
    """Strings → 1..n in sorted order, so the numbering does not depend on row order."""
    originals = values.unique().sort()
    return pl.DataFrame(
        {
            id_name: pl.int_range(1, originals.len() + 1, dtype=pl.Int64, eager=True),
            "original": originals,
        }
    )


def apply_maps(raw: pl.DataFrame, id_maps: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
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


def split(
    user_ids: pl.Series, id_maps: Mapping[str, pl.DataFrame], test_share: float, seed: int
) -> pl.Series:
    originals = _original_user(user_ids, id_maps).to_list()
    test = [stable_unit_hash(u, seed=seed) < test_share for u in originals]
    return pl.Series("eval_set", ["test" if t else "train" for t in test], dtype=pl.String)


def truth(test_orders: pl.DataFrame, test_lines: pl.DataFrame) -> pl.DataFrame:
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


def product_tables(
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
        out[schema.name] = conform(table, schema)
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
    tables = {PRODUCTS.name: conform(products, PRODUCTS), **out}
    return tables, placeholders


def conform(frame: pl.DataFrame, schema: TableSchema) -> pl.DataFrame:
    """Exactly the schema's columns, in its order, with its dtypes."""
    return frame.select(pl.col(name).cast(dtype) for name, dtype in schema.columns.items())
