"""A tiny valid order history in the Instacart layout, and a helper that writes it to files.

Three users: user 1 (two prior orders, then a train order with two reorders),
user 2 (two prior orders, then a test order), user 3 (one prior order, then a
train order with no reorder). Tables are text columns, as a CSV is read.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Mapping
from pathlib import Path

import polars as pl
import pytest

from basketcast.data.schema import TABLES

_ROWS: dict[str, list[tuple[object, ...]]] = {
    "orders": [
        # order_id, user_id, eval_set, order_number, order_dow, order_hour_of_day, days_since_prior_order
        (10, 1, "prior", 1, 0, 8, None),
        (11, 1, "prior", 2, 3, 9, 7.0),
        (12, 1, "train", 3, 5, 10, 3.0),
        (20, 2, "prior", 1, 1, 11, None),
        (21, 2, "prior", 2, 2, 12, 30.0),
        (22, 2, "test", 3, 6, 23, 0.0),
        (30, 3, "prior", 1, 4, 0, None),
        (31, 3, "train", 2, 0, 7, 15.0),
    ],
    "order_products__prior": [
        # order_id, product_id, add_to_cart_order, reordered
        (10, 1, 1, 0),
        (10, 2, 2, 0),
        (11, 1, 1, 1),
        (11, 3, 2, 0),
        (20, 4, 1, 0),
        (21, 4, 1, 1),
        (21, 5, 2, 0),
        (30, 6, 1, 0),
    ],
    "order_products__train": [(12, 1, 1, 1), (12, 2, 2, 1), (12, 5, 3, 0), (31, 2, 1, 0)],
    "products": [
        (1, "Banana", 1, 1),
        (2, "Milk, whole", 2, 2),
        (3, "Apple", 1, 1),
        (4, "Rice", 2, 2),
        (5, "Tea", 2, 2),
        (6, 'Soap "mild"', 2, 2),
    ],
    "aisles": [(1, "fresh fruits"), (2, "pantry")],
    "departments": [(1, "produce"), (2, "dry goods")],
}


def build_raw_tables() -> dict[str, pl.DataFrame]:
    """The tiny dataset as text columns (nulls stay null), one DataFrame per table."""
    out = {}
    for name, rows in _ROWS.items():
        columns = list(TABLES[name].columns)
        text = [tuple(None if v is None else str(v) for v in row) for row in rows]
        out[name] = pl.DataFrame(text, schema=dict.fromkeys(columns, pl.String), orient="row")
    return out


def write_tables(
    folder: Path, tables: Mapping[str, pl.DataFrame], formats: str | Mapping[str, str] = "csv"
) -> Path:
    """Write each table as `<name>.<format>` (csv, csv.gz or parquet) into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        fmt = formats if isinstance(formats, str) else formats[name]
        path = folder / f"{name}.{fmt}"
        if fmt == "parquet":
            frame.write_parquet(path)
        elif fmt == "csv.gz":
            with gzip.open(path, "wb") as fh:
                fh.write(frame.write_csv().encode())
        else:
            frame.write_csv(path)
    return folder


@pytest.fixture
def raw_tables() -> dict[str, pl.DataFrame]:
    """A fresh dict of the tiny dataset's tables (text columns)."""
    return build_raw_tables()


@pytest.fixture
def writer() -> Callable[..., Path]:
    """`write_tables`, for tests that need files."""
    return write_tables
