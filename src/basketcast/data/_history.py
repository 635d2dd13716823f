"""Findings that are warnings, not errors: the `reordered` column against the history, and users without one."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from basketcast.data.schema import PRIOR, TRAIN


def _history(orders: pl.DataFrame, prior: pl.DataFrame, train: pl.DataFrame) -> pl.LazyFrame:
    """All lines with `file` (prior/train) and `repeat`: the user bought the product in an earlier order.

    Rows come out sorted by user, product and order number, not in file order.
    """
    lines = pl.concat(
        [
            prior.lazy().select("order_id", "product_id", "reordered", file=pl.lit("prior")),
            train.lazy().select("order_id", "product_id", "reordered", file=pl.lit("train")),
        ]
    )
    by = ["user_id", "product_id"]
    # Sorted, a line repeats an earlier purchase when the row above has the same user and
    # product; a sort beats a window over ~13M (user, product) groups by a wide margin.
    return (
        lines.join(orders.lazy().select("order_id", "user_id", "order_number"), on="order_id")
        .sort([*by, "order_number"])
        .with_columns(
            repeat=pl.all_horizontal(pl.col(c) == pl.col(c).shift(1) for c in by).fill_null(False)
        )
    )


def _reordered_warnings(
    orders: pl.DataFrame, prior: pl.DataFrame, train: pl.DataFrame, files: Mapping[str, str]
) -> list[str]:
    """Count lines whose `reordered` value disagrees with the history, per file."""
    counts = (
        _history(orders, prior, train)
        .group_by("file")
        .agg(
            said_yes=((pl.col("reordered") == 1) & ~pl.col("repeat")).sum(),
            said_no=((pl.col("reordered") == 0) & pl.col("repeat")).sum(),
        )
        .sort("file")
        .collect()
    )
    out = []
    for file, said_yes, said_no in counts.iter_rows():
        name = files[PRIOR.name if file == "prior" else TRAIN.name]
        if said_yes:
            out.append(
                f"{name}: column 'reordered': {said_yes:,} line(s) say 1 but the user had not bought "
                "the product in an earlier order; labels come from the history, not this column"
            )
        if said_no:
            out.append(
                f"{name}: column 'reordered': {said_no:,} line(s) say 0 but the user had bought "
                "the product in an earlier order; labels come from the history, not this column"
            )
    return out


def first_order_targets(orders: pl.DataFrame, files: Mapping[str, str]) -> list[str]:
    """A warning naming the target orders that are their user's first order (no history)."""
    lone = orders.filter((pl.col("eval_set") != "prior") & (pl.col("order_number") == 1)).sort(
        "order_id"
    )
    if lone.is_empty():
        return []
    shown = ", ".join(
        f"order {o} (user {u}, {e})"
        for o, u, e in lone.head(5).select("order_id", "user_id", "eval_set").iter_rows()
    )
    return [
        f"{files['orders']}: {lone.height:,} target order(s) are their user's first order, so "
        f"nothing in them can be a reorder; they get the basket None, e.g. {shown}"
    ]
