"""The next-basket field's frequency rankings: P-TopFreq and GP-TopFreq.

Each returns a ranking, ``order_id, product_id, score`` (higher first), for the
target orders of a Dataset, computed from the prior orders before each target
only. The names follow "A Next Basket Recommendation Reality Check" (Li et al.,
2023): P-TopFreq ranks the user's own items by how often they were bought;
GP-TopFreq ranks them the same way, then fills the list with the most popular
items the user has not bought.
"""

from __future__ import annotations

import polars as pl

from basketcast.data.dataset import Dataset
from basketcast.evaluate.targets import _history, _targets

__all__ = ["gp_topfreq", "item_popularity", "p_topfreq"]


def p_topfreq(
    dataset: Dataset, *, eval_set: str | None = None, history: pl.DataFrame | None = None
) -> pl.DataFrame:
    """The user's previously bought items, most frequent first.

    ``score = n + last / target``: ``n`` is the number of the user's earlier
    orders that held the item, and the fraction ``last / target`` (the order
    number of the last purchase over the target's, in (0, 1)) breaks ties in
    ``n`` in favour of the most recent purchase without crossing to ``n + 1``.

    ``history``: the lines of `targets._history` for these targets, if already computed.
    """
    targets = _targets(dataset, eval_set)
    lines = history if history is not None else _history(dataset, targets)
    return (
        lines.join(targets.select("order_id"), on="order_id", how="semi")
        .group_by("order_id", "product_id")
        .agg(
            n=pl.col("prior_id").n_unique(),
            last=pl.col("order_number").max(),
            target=pl.col("target_number").first(),
        )
        .select(
            "order_id",
            "product_id",
            score=pl.col("n") + pl.col("last") / pl.col("target"),
        )
        .sort("order_id", "product_id")
    )


def item_popularity(dataset: Dataset) -> pl.DataFrame:
    """``product_id, share``: the share of all prior orders holding each product (descending)."""
    n_orders = dataset.prior.get_column("order_id").n_unique()
    return (
        dataset.prior.group_by("product_id")
        .agg(share=pl.col("order_id").n_unique() / n_orders)
        .sort(["share", "product_id"], descending=[True, False])
    )


def gp_topfreq(
    dataset: Dataset,
    *,
    depth: int = 20,
    eval_set: str | None = None,
    history: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """`p_topfreq`'s items, then the `depth` most popular items the user has not bought.

    Personal items keep their `p_topfreq` score (at least 1); a filled item's
    score is its `item_popularity` share (below 1), so every personal item
    ranks first. Popularity is measured on prior orders only.
    """
    if depth < 0:
        raise ValueError(f"depth must be >= 0, got {depth}")
    personal = p_topfreq(dataset, eval_set=eval_set, history=history)
    orders = _targets(dataset, eval_set).select("order_id")
    n_personal = personal.group_by("order_id").len().get_column("len")
    # Enough of the popular list that `depth` items remain after removing an order's own.
    width = depth + (int(n_personal.max()) if n_personal.len() else 0)  # type: ignore[arg-type]
    popular = item_popularity(dataset).head(width)
    fill = (
        orders.join(popular, how="cross")
        .join(personal, on=["order_id", "product_id"], how="anti")
        .sort(["order_id", "share", "product_id"], descending=[False, True, False])
        .group_by("order_id", maintain_order=True)
        .head(depth)
        .select("order_id", "product_id", score=pl.col("share"))
    )
    return pl.concat([personal, fill]).sort("order_id", "product_id")
