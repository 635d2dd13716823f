"""The Instacart layout: six tables, their columns, dtypes and keys.

Every other module reads column names and dtypes from here, never from literals
scattered around the code. Ids are kept as Int64 so that a retailer's own
integer ids survive unchanged end to end.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

__all__ = [
    "AISLES",
    "DEPARTMENTS",
    "EVAL_SET",
    "ID",
    "OPTIONAL_TABLES",
    "ORDERS",
    "PRIOR",
    "PRODUCTS",
    "REQUIRED_TABLES",
    "TABLES",
    "TRAIN",
    "TableSchema",
]

DType = pl.DataType | type[pl.DataType]
"""A Polars dtype, as a class (pl.Int64) or an instance (pl.Enum([...]))."""

ID = pl.Int64
EVAL_SET = pl.Enum(["prior", "train", "test"])


@dataclass(frozen=True)
class TableSchema:
    """One table of the layout: its file stem, typed columns and unique key."""

    name: str
    columns: dict[str, DType]
    key: tuple[str, ...]
    required: bool = True

    @property
    def polars_schema(self) -> pl.Schema:
        return pl.Schema(self.columns)


ORDERS = TableSchema(
    "orders",
    {
        "order_id": ID,
        "user_id": ID,
        "eval_set": EVAL_SET,
        "order_number": pl.Int32,
        "order_dow": pl.Int8,
        "order_hour_of_day": pl.Int8,
        "days_since_prior_order": pl.Float32,
    },
    key=("order_id",),
)

_LINES = {
    "order_id": ID,
    "product_id": ID,
    "add_to_cart_order": pl.Int32,
    "reordered": pl.Int8,
}
PRIOR = TableSchema("order_products__prior", dict(_LINES), key=("order_id", "product_id"))
TRAIN = TableSchema("order_products__train", dict(_LINES), key=("order_id", "product_id"))

PRODUCTS = TableSchema(
    "products",
    {"product_id": ID, "product_name": pl.String, "aisle_id": ID, "department_id": ID},
    key=("product_id",),
    required=False,
)
AISLES = TableSchema(
    "aisles", {"aisle_id": ID, "aisle": pl.String}, key=("aisle_id",), required=False
)
DEPARTMENTS = TableSchema(
    "departments",
    {"department_id": ID, "department": pl.String},
    key=("department_id",),
    required=False,
)

TABLES: dict[str, TableSchema] = {
    t.name: t for t in (ORDERS, PRIOR, TRAIN, PRODUCTS, AISLES, DEPARTMENTS)
}
REQUIRED_TABLES = tuple(t.name for t in TABLES.values() if t.required)
OPTIONAL_TABLES = tuple(t.name for t in TABLES.values() if not t.required)
