"""The feature frame's contract, shared by `basketcast.features` (which writes it) and `basketcast.model` (which reads it).

An **item frame** has one row per candidate (target order × product the user
bought before); an **order frame** has one row per target order (the None
model's input). Both start with the id columns below, in this order, and every
other column is a Float32 feature (null = missing, never NaN or inf).

========== ======= ==========================================================
column     dtype   meaning
========== ======= ==========================================================
order_id   Int64   the target order
user_id    Int64   its user
product_id Int64   the candidate product (item frame only)
depth      Int8    0 = the real train/test order, k = the k-th history target
label      Int8    1/0 (item: in the target order; order: the truth is None);
                   null for test orders
========== ======= ==========================================================

Rows of one depth are sorted by ``order_id`` (then ``product_id``); depths are
stacked in increasing order.
"""

from __future__ import annotations

import polars as pl

__all__ = [
    "DEPTH",
    "ID_COLUMNS",
    "ITEM_KEYS",
    "LABEL",
    "ORDER_KEYS",
    "check_frame",
    "feature_names",
    "id_columns",
]

LABEL = "label"
DEPTH = "depth"
ITEM_KEYS: tuple[str, ...] = ("order_id", "user_id", "product_id", DEPTH)
"""What identifies a row of the item frame."""
ORDER_KEYS: tuple[str, ...] = ("order_id", "user_id", DEPTH)
"""What identifies a row of the order frame."""

ID_COLUMNS: tuple[str, ...] = ("order_id", "user_id", "product_id", DEPTH, LABEL)
"""Columns that are never features; `product_id` is absent from the order-level (None) frame."""

_REQUIRED = ("order_id", "user_id", DEPTH, LABEL)


def feature_names(frame: pl.DataFrame) -> list[str]:
    """Every column of ``frame`` that is not an id column, in frame order."""
    return [c for c in frame.columns if c not in ID_COLUMNS]


def id_columns(frame: pl.DataFrame) -> list[str]:
    """The key columns present in ``frame`` (``label`` excluded), in contract order."""
    return [c for c in ID_COLUMNS if c in frame.columns and c != LABEL]


def check_frame(frame: pl.DataFrame, *, what: str = "feature frame") -> list[str]:
    """Validate the id columns and feature dtypes; return the feature names.

    Raises
    ------
    ValueError
        Naming the missing columns, the non-numeric features, or the bad labels.
    """
    missing = [c for c in _REQUIRED if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks the id column(s) {missing}; it has {frame.columns[:10]}")
    names = feature_names(frame)
    if not names:
        raise ValueError(f"{what} has no feature columns")
    bad = [f"{c} ({frame.schema[c]})" for c in names if not frame.schema[c].is_numeric()]
    if bad:
        raise ValueError(f"{what}: feature columns must be numeric (Float32), got {bad[:5]}")
    for key in ("user_id", DEPTH):
        nulls = frame[key].null_count()
        if nulls:
            raise ValueError(f"{what}: column {key} has {nulls} null values")
    labels = frame[LABEL].drop_nulls()
    wrong = labels.filter(~labels.is_in([0, 1]))
    if len(wrong):
        raise ValueError(
            f"{what}: column label must be 0, 1 or null; {len(wrong)} rows hold other values, "
            f"e.g. {wrong.unique().head(5).to_list()}"
        )
    return names
