"""The None model as a second stage: it reads the item model's probabilities, as the 2nd place did.

For every target order the item model's probabilities of its candidates are
summarised into the columns of `STACK_COLUMNS` and joined onto the order
frame before the None model trains. Labelled orders (train orders and history
targets) get summaries of their *out-of-fold* probabilities, so the None model
never sees an item probability from a model that trained on that user; test
orders get summaries of the fold-averaged probabilities, as do orders scored
later by ``basketcast predict``. The user's share of past orders with no
reorder (``u_none_share``) already rides on the order frame from the user
family.

When ``model.train_folds`` trains only some folds, the orders of the untrained
folds have no out-of-fold item probabilities: their stacked columns are null
(missing to XGBoost).
"""

from __future__ import annotations

import polars as pl

__all__ = ["STACK_COLUMNS", "item_summaries", "stack_orders"]

STACK_COLUMNS: dict[str, str] = {
    "s_p_sum": "sum of the item model's p over the order's candidates (expected reorders)",
    "s_p_max": "largest item-model p among the order's candidates",
    "s_p_mean": "mean item-model p over the order's candidates",
    "s_p_none_indep": "prod(1 - p) over the candidates: p(None) if items were independent",
    "s_p_above_half": "candidates with item-model p >= 0.5",
}
"""The None model's stacked inputs, with one-line descriptions."""


def item_summaries(item_p: pl.DataFrame) -> pl.DataFrame:
    """``order_id`` and the `STACK_COLUMNS` (Float32) of every order in ``item_p`` (order_id, p)."""
    p = pl.col("p").cast(pl.Float64)
    return item_p.group_by("order_id").agg(
        s_p_sum=p.sum().cast(pl.Float32),
        s_p_max=p.max().cast(pl.Float32),
        s_p_mean=p.mean().cast(pl.Float32),
        # Sum of logs, not a product of floats: long histories have hundreds of candidates.
        s_p_none_indep=(1.0 - p).clip(1e-12, 1.0).log().sum().exp().cast(pl.Float32),
        s_p_above_half=(p >= 0.5).sum().cast(pl.Float32),
    )


def stack_orders(orders: pl.DataFrame, item_p: pl.DataFrame) -> pl.DataFrame:
    """The order frame with the item model's summaries joined on (row order kept).

    Parameters
    ----------
    orders
        The order frame (`basketcast.frame`): one row per target order.
    item_p
        ``order_id, p`` per candidate: out-of-fold p for labelled orders and the
        fold-averaged p for test orders (or for new data at predict time).
    """
    summaries = item_summaries(item_p.select("order_id", "p"))
    return orders.join(summaries, on="order_id", how="left", maintain_order="left")
