"""p(None) of each order from the source `basket.p_none` names (the None model, independence, or both)."""

from __future__ import annotations

import polars as pl

from basketcast.config import PNone

__all__ = ["p_none_values"]


def p_none_values(
    items: pl.DataFrame, none: pl.DataFrame | None, choice: PNone
) -> pl.DataFrame | None:
    """``order_id, p_none`` for `select_baskets`, or None for its own prod(1 - p).

    Parameters
    ----------
    items
        ``order_id, product_id, p`` of the orders to make baskets for.
    none
        ``order_id, p_none`` from the None model (None when it did not train).
    choice
        `PNone.MODEL`, `PNone.INDEPENDENT` or `PNone.BLEND` (not `PNone.AUTO`).
    """
    if choice is PNone.AUTO:
        raise ValueError("p_none_values needs a concrete choice; resolve auto first")
    if choice is PNone.INDEPENDENT or none is None:
        return None
    if choice is PNone.MODEL:
        return none
    independent = items.group_by("order_id").agg(
        indep=(1.0 - pl.col("p").cast(pl.Float64)).clip(1e-12, 1.0).log().sum().exp()
    )
    return (
        none.join(independent, on="order_id", how="left")
        .select("order_id", p_none=0.5 * (pl.col("p_none") + pl.col("indep").fill_null(1.0)))
        .with_columns(pl.col("p_none").clip(0.0, 1.0))
    )
