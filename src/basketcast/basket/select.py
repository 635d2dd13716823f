"""Probabilities of many orders → F1-optimal baskets as submission strings."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

from basketcast.basket.f1 import TIE_TOLERANCE, _select_csr
from basketcast.data.dataset import DataError, Problem
from basketcast.data.schema import ID

__all__ = ["select_baskets"]

_EXAMPLES = 3
_SOURCE = "the probabilities given to select_baskets"


def _examples(frame: pl.DataFrame) -> tuple[str, ...]:
    rows = frame.head(_EXAMPLES).to_dicts()
    return tuple(", ".join(f"{k}={v}" for k, v in row.items()) for row in rows)


def _columns(frame: pl.DataFrame, needed: tuple[str, ...], source: str) -> list[Problem]:
    found = ", ".join(frame.columns)
    return [
        Problem(source, c, f"missing column (found: {found})")
        for c in needed
        if c not in frame.columns
    ]


def _nulls(frame: pl.DataFrame, columns: tuple[str, ...], source: str) -> list[Problem]:
    problems = []
    for col in columns:
        if frame.get_column(col).null_count():
            bad = frame.filter(pl.col(col).is_null())
            problems.append(Problem(source, col, "missing value", bad.height, _examples(bad)))
    return problems


def _in_unit_interval(frame: pl.DataFrame, column: str, source: str) -> list[Problem]:
    values = frame.get_column(column).to_numpy()
    bad = ~((values >= 0.0) & (values <= 1.0))  # NaN fails both comparisons
    if not bad.any():
        return []
    rows = frame.filter(pl.Series(bad))
    return [Problem(source, column, "must be a number in [0, 1]", rows.height, _examples(rows))]


def _raise(problems: list[Problem]) -> None:
    if problems:
        raise DataError(problems, source=_SOURCE)


def select_baskets(probs: pl.DataFrame, p_none: pl.DataFrame | None = None) -> pl.DataFrame:
    """Pick the expected-F1-optimal basket of every order.

    Parameters
    ----------
    probs
        One row per candidate: ``order_id``, ``product_id``, ``p``, in any row order.
    p_none
        Optional ``order_id``, ``p_none`` (from a None model), one row per order
        and covering every order in `probs`; orders listed only here get
        ``None``. Without it, ``p_none = prod(1 - p)`` per order.

    Returns
    -------
    polars.DataFrame
        ``order_id``, ``products`` (product ids by descending ``p``, ties by
        product id, then ``None`` if chosen; exactly ``None`` for an empty
        basket) and ``expected_f1``, sorted by ``order_id``.

    Raises
    ------
    DataError
        Missing columns or values, a product twice in an order, probabilities
        outside [0, 1], or a `p_none` frame that does not cover every order.
    """
    _raise(_columns(probs, ("order_id", "product_id", "p"), "probabilities"))
    probs = probs.select(
        pl.col("order_id").cast(ID), pl.col("product_id").cast(ID), pl.col("p").cast(pl.Float64)
    )
    _raise(_nulls(probs, ("order_id", "product_id", "p"), "probabilities"))
    _raise(_in_unit_interval(probs, "p", "probabilities"))

    # Group the rows by order (skipped when already grouped; the kernel orders each group).
    if not probs.get_column("order_id").is_sorted():
        probs = probs.sort("order_id")
    order_col = probs.get_column("order_id").to_numpy()
    product = probs.get_column("product_id").to_numpy()
    p = np.ascontiguousarray(probs.get_column("p").to_numpy(), dtype=np.float64)
    starts = (
        np.flatnonzero(np.diff(order_col, prepend=order_col[:1] - 1))
        if order_col.size
        else np.empty(0, np.int64)
    )
    orders = order_col[starts]
    counts = np.diff(np.append(starts, order_col.size))

    if p_none is None:
        p_none_arr = np.full(orders.size, np.nan)
    else:
        _raise(_columns(p_none, ("order_id", "p_none"), "p_none"))
        p_none = p_none.select(pl.col("order_id").cast(ID), pl.col("p_none").cast(pl.Float64))
        problems = _nulls(p_none, ("order_id", "p_none"), "p_none")
        problems += _in_unit_interval(p_none.drop_nulls(), "p_none", "p_none")
        dup = p_none.filter(pl.col("order_id").is_duplicated())
        if dup.height:
            problems.append(
                Problem("p_none", "order_id", "duplicate order", dup.height, _examples(dup))
            )
        _raise(problems)
        p_none = p_none.sort("order_id")
        none_ids = p_none.get_column("order_id").to_numpy()
        uncovered = orders[~np.isin(orders, none_ids)]
        if uncovered.size:
            examples = tuple(f"order_id={i}" for i in uncovered[:_EXAMPLES])
            _raise(
                [
                    Problem(
                        "p_none",
                        "order_id",
                        "order has probabilities but no p_none",
                        uncovered.size,
                        examples,
                    )
                ]
            )
        # Orders only in p_none get an empty candidate list (and so the basket None).
        all_counts = np.zeros(none_ids.size, dtype=np.int64)
        all_counts[np.searchsorted(none_ids, orders)] = counts
        orders, counts = none_ids, all_counts
        p_none_arr = p_none.get_column("p_none").to_numpy().astype(np.float64)
    offsets = np.zeros(orders.size + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])

    ks, with_none, expected, dup_flags, perm = _select_csr(
        p, product, offsets, p_none_arr, TIE_TOLERANCE
    )
    if dup_flags.any():
        bad = orders[dup_flags]
        examples = tuple(f"order_id={i}" for i in bad[:_EXAMPLES])
        _raise(
            [
                Problem(
                    "probabilities",
                    "product_id",
                    "product listed twice in an order",
                    bad.size,
                    examples,
                )
            ]
        )

    # perm lists each order's rows best first: its first k are the basket. Build the strings
    # from one Arrow list array (offsets = cumulative k): no group-by, no Python loop.
    order_index = np.repeat(np.arange(orders.size), counts)
    keep = (np.arange(p.size) - offsets[:-1][order_index]) < ks[order_index]
    list_offsets = np.zeros(orders.size + 1, dtype=np.int64)
    np.cumsum(ks, out=list_offsets[1:])
    chosen = pl.Series(product[perm[keep]], dtype=ID).cast(pl.String).to_arrow()
    items = pl.Series(pa.LargeListArray.from_arrays(pa.array(list_offsets), chosen)).list.join(" ")
    return pl.DataFrame(
        {
            "order_id": pl.Series(orders, dtype=ID),
            "items": items,
            "k": ks,
            "with_none": pl.Series(with_none, dtype=pl.Boolean),
            "expected_f1": pl.Series(expected, dtype=pl.Float64),
        }
    ).select(
        "order_id",
        pl.when(pl.col("k") == 0)
        .then(pl.lit("None"))
        .when(pl.col("with_none"))
        .then(pl.col("items") + " None")
        .otherwise(pl.col("items"))
        .alias("products"),
        "expected_f1",
    )
