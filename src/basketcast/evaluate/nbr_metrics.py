"""Next-basket metrics: recall@k and NDCG@k, split into repeat and explore items.

The split follows "A Next Basket Recommendation Reality Check" (Li et al.,
2023). For a target order with true basket ``T`` and the set ``H`` of items its
user bought before:

- repeat items ``T_rep = T ∩ H``, explore items ``T_expl = T \\ H``;
- ``P_k``: the method's top-k list (the whole list, not split);
- ``recall@k = |P_k ∩ T| / |T|``, ``recall_rep@k = |P_k ∩ T_rep| / |T_rep|``,
  ``recall_expl@k = |P_k ∩ T_expl| / |T_expl|``;
- ``NDCG@k = DCG@k / IDCG@k`` with ``DCG@k = Σ_{r ≤ k, item_r ∈ T} 1 / log2(r + 1)``
  and ``IDCG@k`` the DCG of a perfect list, ``Σ_{r=1}^{min(k, |T|)} 1 / log2(r + 1)``;
  the repeat and explore NDCG count only hits in (and normalise by the size
  of) ``T_rep`` or ``T_expl``, by the same pattern as the recalls;
- each figure is the mean over the orders where its part is not empty (an
  order without explore items has no explore recall), as in the paper.

A ranking is a frame ``order_id, product_id, score``: the list of an order is
its products by descending score, ties by ascending product id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

__all__ = ["DEFAULT_KS", "nbr_metrics", "per_order_nbr_metrics"]

DEFAULT_KS: tuple[int, ...] = (10, 20)
PARTS = ("all", "rep", "expl")


def _ideal_dcg(n: pl.Expr, k: int) -> pl.Expr:
    """Σ_{r=1}^{min(k, n)} 1/log2(r+1), from a table of the k prefix sums."""
    prefix = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))])
    return n.clip(upper_bound=k).replace_strict(
        list(range(k + 1)), prefix.tolist(), return_dtype=pl.Float64
    )


def per_order_nbr_metrics(
    ranking: pl.DataFrame,
    truth: pl.DataFrame,
    history: pl.DataFrame,
    *,
    ks: Sequence[int] = DEFAULT_KS,
) -> pl.DataFrame:
    """Recall@k and NDCG@k of every truth order, overall and for repeat and explore items.

    Parameters
    ----------
    ranking
        ``order_id, product_id, score``: the method's scored items (any number per order).
    truth
        ``order_id, product_id``: the true basket of each evaluated order (one
        row per item; an order whose basket holds no item is left out).
    history
        ``order_id, product_id``: the items the order's user bought before it.
    ks
        The list lengths.

    Returns
    -------
    polars.DataFrame
        One row per truth order: ``order_id``, ``n_all``, ``n_rep``, ``n_expl``
        (the sizes of T, T_rep, T_expl) and for each k and part
        ``recall_<part>@k``, ``ndcg_<part>@k`` (null where that part is empty).
    """
    if not ks or min(ks) < 1:
        raise ValueError(f"ks must be positive list lengths, got {list(ks)}")
    top = max(ks)
    seen = history.select("order_id", "product_id").unique().with_columns(repeat=pl.lit(True))
    true = (
        truth.select("order_id", "product_id")
        .unique()
        .join(seen, on=["order_id", "product_id"], how="left")
        .with_columns(pl.col("repeat").fill_null(False), hit=pl.lit(True))
    )
    sizes = true.group_by("order_id").agg(
        n_all=pl.len(), n_rep=pl.col("repeat").sum(), n_expl=(~pl.col("repeat")).sum()
    )
    ranked = (
        ranking.join(sizes.select("order_id"), on="order_id", how="semi")
        .sort(["order_id", "score", "product_id"], descending=[False, True, False])
        .with_columns(rank=pl.int_range(1, pl.len() + 1).over("order_id"))
        .filter(pl.col("rank") <= top)
        .join(true, on=["order_id", "product_id"], how="inner")
        .with_columns(gain=1.0 / (pl.col("rank") + 1).cast(pl.Float64).log(2))
    )
    parts = {"all": pl.lit(True), "rep": pl.col("repeat"), "expl": ~pl.col("repeat")}
    sums = ranked.group_by("order_id").agg(
        expr
        for k in ks
        for name, part in parts.items()
        for expr in (
            (part & (pl.col("rank") <= k)).sum().alias(f"hits_{name}@{k}"),
            pl.col("gain").filter(part & (pl.col("rank") <= k)).sum().alias(f"dcg_{name}@{k}"),
        )
    )
    out = sizes.join(sums, on="order_id", how="left")
    metrics: list[pl.Expr] = []
    for k in ks:
        for name in PARTS:
            n = pl.col(f"n_{name}")
            empty = n == 0
            hits = pl.col(f"hits_{name}@{k}").fill_null(0)
            dcg = pl.col(f"dcg_{name}@{k}").fill_null(0.0)
            recall = pl.when(empty).then(None).otherwise(hits / n)
            ndcg = pl.when(empty).then(None).otherwise(dcg / _ideal_dcg(n, k))
            metrics += [recall.alias(f"recall_{name}@{k}"), ndcg.alias(f"ndcg_{name}@{k}")]
    return out.select("order_id", "n_all", "n_rep", "n_expl", *metrics).sort("order_id")


def nbr_metrics(
    ranking: pl.DataFrame,
    truth: pl.DataFrame,
    history: pl.DataFrame,
    *,
    ks: Sequence[int] = DEFAULT_KS,
) -> dict[str, Any]:
    """The means of `per_order_nbr_metrics` over the orders where each part is not empty.

    Returns
    -------
    dict
        ``orders`` (truth orders), ``orders_rep``, ``orders_expl`` (orders with
        repeat / explore items), and ``recall_<part>@k``, ``ndcg_<part>@k``
        (None where no order has that part).
    """
    rows = per_order_nbr_metrics(ranking, truth, history, ks=ks)
    out: dict[str, Any] = {
        "orders": rows.height,
        "orders_rep": int((rows.get_column("n_rep") > 0).sum()),
        "orders_expl": int((rows.get_column("n_expl") > 0).sum()),
    }
    for column in rows.columns[4:]:
        mean = rows.get_column(column).mean()  # nulls (empty parts) are skipped
        out[column] = None if mean is None else float(mean)  # type: ignore[arg-type]
    return out
