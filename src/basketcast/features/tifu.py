"""TIFU-KNN's score as features: the user's own decayed frequency and their neighbours'.

The model is the baseline's (`basketcast.evaluate.tifu_knn`, Hu et al. 2020)
at the paper's Instacart settings (m = 3, r_b = 0.9, r_g = 0.7, k = 900,
α = 0.9), untuned: tuning would read the train targets' baskets, which the
out-of-fold item model must not see.

- ``fit`` builds the neighbour index: every user's TIFU vector from their
  visible history at the depth (orders before their own target of that
  depth), saved as ``user_id, product_id, weight``. No target basket of any
  user is in it.
- ``transform`` computes each user's vector from their own history, the
  same way, and finds their nearest index users (never themselves). So a
  user transformed alone, in a shard, or with everyone gets the same values.

Cost: the neighbour search compares every user with every index user
(O(users × index users) sparse products and a sort per row). The index is
capped at `INDEX_USERS` users, chosen by a fixed hash of the user id; on the
public data sets (≤ 2,438 users) every user is in it. Off by default
(`features.include = ["tifu"]`): see benchmarks/README.md for what it gave.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import scipy.sparse as sp

from basketcast.evaluate.tifu_knn import (
    PAPER_INSTACART,
    TifuParams,
    UserBaskets,
    nearest,
    parts_at,
    user_vectors,
)
from basketcast.features.family import FeatureFamily, Scope, StatPlans, Stats, join_on
from basketcast.features.history import History

__all__ = ["INDEX_USERS", "NEAR_K", "TIFU", "TifuFamily", "tifu_index"]

INDEX_USERS = 20_000
"""Most users in the neighbour index (the search is quadratic in users)."""
NEAR_K = 100
"""A second, smaller neighbourhood: the mean of the 100 nearest users."""

DESCRIPTIONS: dict[str, str] = {
    "tifu_own": "the user's own time-decayed frequency of the product (TIFU-KNN's user vector)",
    "tifu_neighbours": "mean of the 900 nearest other users' vectors at the product (TIFU-KNN)",
    "tifu_neighbours_100": "mean of the 100 nearest other users' vectors at the product",
    "tifu_score": "TIFU-KNN's prediction: 0.9 own + 0.1 neighbours (paper's Instacart settings)",
    "tifu_rank": "rank of the TIFU-KNN score among the user's candidates (1 = best)",
}


def _vectors(
    lines: pl.DataFrame, users: pl.Series, items: pl.Series, params: TifuParams
) -> sp.csr_matrix:
    """users × items TIFU vectors from ``user_id, order_number, product_id`` lines."""
    baskets = UserBaskets.from_lines(
        lines.select(pl.col("user_id").alias("user"), "order_number", "product_id"),
        users=users,
        items=items,
    )
    return user_vectors(baskets, m=params.m, r_b=params.r_b, r_g=params.r_g)


def _capped(users: pl.Series, cap: int) -> pl.Series:
    """At most ``cap`` of ``users`` (sorted), chosen by a fixed multiplicative hash of the id."""
    if users.len() <= cap:
        return users
    ids = users.cast(pl.UInt64).to_numpy()
    key = (ids * np.uint64(2654435761)) % np.uint64(2**32)  # Knuth: stable across versions
    keep = np.sort(np.argsort(key, kind="stable")[:cap])
    return users.gather(keep)


def tifu_index(
    lines: pl.DataFrame, *, params: TifuParams = PAPER_INSTACART, cap: int = INDEX_USERS
) -> pl.DataFrame:
    """``user_id, product_id, weight``: the TIFU vectors of (at most ``cap``) users, from their lines."""
    users = _capped(lines.get_column("user_id").unique().sort(), cap)
    lines = lines.filter(pl.col("user_id").is_in(users.implode()))
    items = lines.get_column("product_id").unique().sort()
    coo = _vectors(lines, users, items, params).tocoo()
    return pl.DataFrame(
        {
            "user_id": users.gather(coo.row),
            "product_id": items.gather(coo.col),
            "weight": coo.data,
        }
    )


def tifu_values(
    lines: pl.DataFrame, index: pl.DataFrame, *, params: TifuParams = PAPER_INSTACART
) -> pl.DataFrame:
    """One row per (user_id, product_id) of ``lines`` with the `DESCRIPTIONS` columns.

    ``lines``: ``user_id, order_number, product_id`` of the users to score;
    ``index``: `tifu_index` of every user (the neighbours).
    """
    if lines.is_empty():
        schema = {"user_id": lines.schema["user_id"], "product_id": lines.schema["product_id"]}
        return pl.DataFrame(schema=schema | dict.fromkeys(DESCRIPTIONS, pl.Float64))
    users = lines.get_column("user_id").unique().sort()
    items = pl.concat([index.get_column("product_id"), lines.get_column("product_id")])
    items = items.unique().sort()
    column = pl.DataFrame({"product_id": items, "col": np.arange(items.len())})
    index_users = index.get_column("user_id").unique().sort()
    at = index.join(
        pl.DataFrame({"user_id": index_users, "row": np.arange(index_users.len())}), on="user_id"
    ).join(column, on="product_id")
    index_vectors = sp.csr_matrix(
        (at["weight"].to_numpy(), (at["row"].to_numpy(), at["col"].to_numpy())),
        shape=(index_users.len(), items.len()),
    )
    vectors = _vectors(lines, users, items, params)
    own_row = (
        pl.DataFrame({"user_id": users})
        .join(
            pl.DataFrame({"user_id": index_users, "row": np.arange(index_users.len())}),
            on="user_id",
            how="left",
            maintain_order="left",
        )
        .get_column("row")
        .fill_null(-1)
        .to_numpy()
    )
    order = nearest(vectors, index_vectors, params.k, own_row=own_row)
    pairs = (
        lines.select("user_id", "product_id")
        .unique()
        .join(pl.DataFrame({"user_id": users, "row": np.arange(users.len())}), on="user_id")
        .join(column, on="product_id")
        .sort("row", "col")
    )
    own, means = parts_at(
        vectors,
        order,
        [NEAR_K, params.k],
        rows=pairs["row"].to_numpy(),
        cols=pairs["col"].to_numpy(),
        index=index_vectors,
    )
    score = params.alpha * own + (1.0 - params.alpha) * means[params.k]
    return pairs.select(
        "user_id",
        "product_id",
        pl.Series("tifu_own", own),
        pl.Series("tifu_neighbours", means[params.k]),
        pl.Series("tifu_neighbours_100", means[NEAR_K]),
        pl.Series("tifu_score", score),
    ).with_columns(
        tifu_rank=pl.col("tifu_score").rank("min", descending=True).over("user_id").cast(pl.Int32)
    )


def _lines(history: History) -> pl.LazyFrame:
    return history.lines.select("user_id", "order_number", "product_id")


class TifuFamily(FeatureFamily):
    """TIFU-KNN's parts and score per candidate; the neighbour index is the fitted statistic."""

    def fit(self, history: History) -> StatPlans:
        return {"index": tifu_index(_lines(history).collect()).lazy()}

    def transform(self, frame: pl.LazyFrame, history: History, stats: Stats) -> pl.LazyFrame:
        # Only users with a target at this depth have candidate rows to fill.
        lines = _lines(history).join(history.targets.select("user_id"), on="user_id", how="semi")
        values = tifu_values(lines.collect(), stats["index"])
        return join_on(frame, values.lazy(), ["user_id", "product_id"])


TIFU = TifuFamily(
    name="tifu",
    scope=Scope.USER_PRODUCT,
    keys=("user_id", "product_id"),
    columns=DESCRIPTIONS,
    default_on=False,
)
