"""TIFU-KNN (Hu, He, Gao and Zhang, SIGIR 2020): time-decayed item frequencies + user KNN.

The paper's model, for a user with history baskets ``b_1 … b_t`` (oldest
first; ``b_j`` the 0/1 vector of its items):

1. Split the baskets into ``g = min(m, t)`` groups of consecutive baskets.
   With ``t >= m``, ``t = m·q + e`` (``0 <= e < m``): the first ``m − e``
   groups hold ``q`` baskets and the last ``e`` hold ``q + 1`` (the split of
   the authors' code); with ``t < m`` each basket is its own group.
2. A group ``G_i = (b_1 … b_n)`` has the vector
   ``v_i = (1/n) Σ_{j=1}^{n} r_b^{n−j} b_j`` (within-group decay ``r_b``).
3. The user's vector is ``u = (1/g) Σ_{i=1}^{g} r_g^{g−i} v_i`` (group decay ``r_g``).
4. The prediction is ``p = α u + (1 − α) (1/k) Σ_{w ∈ N_k(u)} w``, where
   ``N_k(u)`` are the ``k`` other users whose vectors are nearest to ``u`` in
   Euclidean distance (ties by lower user position).

``m`` is the number of groups, which the authors' code calls ``group_size``.
Two choices where the paper is silent: a user is not its own neighbour, and
``k`` is capped at the number of other users. The paper's settings for
Instacart are m = 3, r_b = 0.9, r_g = 0.7, k = 900, α = 0.9.

Everything is vectorised: user vectors are one sparse matrix, distances come
from its Gram matrix in row blocks, and predictions are formed block by block.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import scipy.sparse as sp

__all__ = [
    "PAPER_INSTACART",
    "TifuParams",
    "UserBaskets",
    "nearest",
    "neighbours",
    "parts_at",
    "top_items",
    "user_vectors",
]

_BLOCK = 256
"""Users per block of the distance and prediction steps: bounds memory to ~block × items."""


@dataclass(frozen=True)
class TifuParams:
    """TIFU-KNN's five parameters (names as in the paper)."""

    m: int = 3
    r_b: float = 0.9
    r_g: float = 0.7
    k: int = 900
    alpha: float = 0.9

    def __post_init__(self) -> None:
        if self.m < 1 or self.k < 1:
            raise ValueError(f"m and k must be >= 1, got m={self.m}, k={self.k}")
        for name in ("r_b", "r_g", "alpha"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {value}")


PAPER_INSTACART = TifuParams()
"""The paper's Instacart settings: the centre of the tuning grid."""


@dataclass(frozen=True)
class UserBaskets:
    """Users' history baskets as index arrays: what `user_vectors` needs.

    Attributes
    ----------
    user, basket, item
        One entry per (basket, item): the user's row (0 … n_users−1), the
        basket's position in the user's history (0 = oldest) and the item's
        column (0 … n_items−1). An item listed twice in one basket counts once.
    n_baskets
        Baskets per user (``t``), indexed by row.
    n_items
        Number of item columns.
    """

    user: np.ndarray
    basket: np.ndarray
    item: np.ndarray
    n_baskets: np.ndarray
    n_items: int

    @property
    def n_users(self) -> int:
        return len(self.n_baskets)

    @classmethod
    def from_lines(cls, lines: pl.DataFrame, *, users: pl.Series, items: pl.Series) -> UserBaskets:
        """From ``user, order_number, product_id`` lines; `users` and `items` fix the row and column order."""
        user_index = pl.DataFrame({"user": users, "row": np.arange(users.len())})
        item_index = pl.DataFrame({"product_id": items, "col": np.arange(items.len())})
        frame = (
            lines.select("user", "order_number", "product_id")
            .unique()
            .join(user_index, on="user")
            .join(item_index, on="product_id")
            .with_columns(basket=pl.col("order_number").rank("dense").over("row") - 1)
        )
        n_baskets = np.zeros(users.len(), dtype=np.int64)
        counts = frame.group_by("row").agg(t=pl.col("basket").max() + 1)
        n_baskets[counts.get_column("row").to_numpy()] = counts.get_column("t").to_numpy()
        return cls(
            user=frame.get_column("row").to_numpy(),
            basket=frame.get_column("basket").to_numpy().astype(np.int64),
            item=frame.get_column("col").to_numpy(),
            n_baskets=n_baskets,
            n_items=items.len(),
        )


def _basket_weights(
    basket: np.ndarray, t: np.ndarray, *, m: int, r_b: float, r_g: float
) -> np.ndarray:
    """The weight of basket position `basket` (0 = oldest) in a history of `t` baskets."""
    t = t.astype(np.int64)
    q, e = np.divmod(t, m)
    short = t < m  # every basket its own group
    n_small = m - e  # groups of q baskets, then e groups of q + 1
    in_small = basket < n_small * q
    q_safe = np.maximum(q, 1)
    group = np.where(in_small, basket // q_safe, n_small + (basket - n_small * q) // (q + 1))
    size = np.where(in_small, q, q + 1)
    position = np.where(in_small, basket % q_safe, (basket - n_small * q) % (q + 1))
    group = np.where(short, basket, group)
    size = np.where(short, 1, size)
    position = np.where(short, 0, position)
    g = np.minimum(t, m)
    within = np.power(r_b, size - 1 - position) / size
    across = np.power(r_g, g - 1 - group) / g
    return within * across


def user_vectors(baskets: UserBaskets, *, m: int, r_b: float, r_g: float) -> sp.csr_matrix:
    """The users' time-decayed frequency vectors (steps 1–3), users × items, float64."""
    t = baskets.n_baskets[baskets.user]
    weight = _basket_weights(baskets.basket, t, m=m, r_b=r_b, r_g=r_g)
    shape = (baskets.n_users, baskets.n_items)
    # Duplicate (user, item) entries from different baskets are summed.
    return sp.csr_matrix((weight, (baskets.user, baskets.item)), shape=shape)


def neighbours(vectors: sp.csr_matrix, k: int) -> np.ndarray:
    """Each user's `k` nearest other users, nearest first: users × min(k, users − 1) row indices."""
    n = vectors.shape[0]
    return nearest(vectors, vectors, k, own_row=np.arange(n))


def nearest(
    query: sp.csr_matrix, index: sp.csr_matrix, k: int, *, own_row: np.ndarray
) -> np.ndarray:
    """Each query user's `k` nearest index users, nearest first: queries × min(k, index − 1).

    The index rows are the candidate neighbours, in the columns' item order of
    ``query``; ``own_row[i]`` is query ``i``'s own row in the index (never its
    own neighbour), or −1 when it has none (one neighbour more is then left out,
    so that every query gets the same count). Ties go to the lower index row.
    """
    n_query, n_index = query.shape[0], index.shape[0]
    k = min(k, n_index - 1)
    if k < 1:
        return np.empty((n_query, 0), dtype=np.int64)
    q_squared = np.asarray(query.multiply(query).sum(axis=1)).ravel()
    i_squared = np.asarray(index.multiply(index).sum(axis=1)).ravel()
    out = np.empty((n_query, k), dtype=np.int64)
    for start, stop in _blocks(n_query):
        gram = (query[start:stop] @ index.T).toarray()
        dist = q_squared[start:stop, None] + i_squared[None, :] - 2.0 * gram
        own = own_row[start:stop]
        mine = np.flatnonzero(own >= 0)
        dist[mine, own[mine]] = np.inf  # not one's own neighbour
        # Round away the Gram trick's last-bit noise so that equal distances tie exactly,
        # then order by (distance, position): a stable sort of the rounded distances.
        dist = np.round(np.maximum(dist, 0.0), 12)
        order = np.argsort(dist, axis=1, kind="stable")[:, :k]
        out[start:stop] = order
    return out


def _neighbour_weights(order: np.ndarray, k: int, n: int) -> sp.csr_matrix:
    """Users × users: 1/k on each user's first `k` neighbours in `order` (k capped)."""
    k = min(k, order.shape[1])
    rows = np.repeat(np.arange(n), k)
    values = np.full(n * k, 1.0 / k) if k else np.empty(0)
    return sp.csr_matrix((values, (rows, order[:, :k].ravel())), shape=(n, n))


def _blocks(n: int, size: int = _BLOCK) -> Iterator[tuple[int, int]]:
    for start in range(0, n, size):
        yield start, min(start + size, n)


def parts_at(
    vectors: sp.csr_matrix,
    order: np.ndarray,
    ks: Sequence[int],
    *,
    rows: np.ndarray,
    cols: np.ndarray,
    index: sp.csr_matrix | None = None,
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """The user's own value ``u`` and, for each k of `ks`, the neighbours' mean at (row, col) pairs.

    The prediction at a pair is ``α own + (1 − α) mean[k]`` for any α, so one
    call serves a whole grid of (k, α). The k nearest are a prefix of the
    sorted neighbours, so each larger k only adds the next neighbours' sum:
    the cost is that of the largest k alone. `rows` must be sorted.
    ``index``: the neighbours' vectors (rows as in `order`, columns as in
    ``vectors``) when they are not ``vectors`` themselves (`nearest`).
    """
    n = vectors.shape[0]
    index = vectors if index is None else index
    n_index = index.shape[0]
    caps = sorted({min(k, order.shape[1]) for k in ks})
    own = np.asarray(vectors[rows, cols]).ravel()
    sums = {k: np.zeros(len(rows)) for k in caps}
    by_column = index.tocsc()
    # One matrix per segment of neighbours (ranks caps[i-1] … caps[i]−1), each summing with weight 1.
    segments, previous = [], 0
    for k in caps:
        rank = order[:, previous:k]
        weights = sp.csr_matrix(
            (np.ones(rank.size), (np.repeat(np.arange(n), k - previous), rank.ravel())),
            shape=(n, n_index),
        )
        segments.append((k, weights))
        previous = k
    for start, stop in _blocks(n):
        lo, hi = np.searchsorted(rows, start), np.searchsorted(rows, stop)
        if lo == hi:
            continue
        # Only the block's own candidate columns: a dense block × all items would be wasted.
        needed = np.unique(cols[lo:hi])
        sub = by_column[:, needed]
        at = (rows[lo:hi] - start, np.searchsorted(needed, cols[lo:hi]))
        running = np.zeros(hi - lo)
        for k, weights in segments:
            running = running + (weights[start:stop] @ sub).toarray()[at]
            sums[k][lo:hi] = running
    means = {k: sums[min(k, order.shape[1])] / max(min(k, order.shape[1]), 1) for k in ks}
    return own, means


def top_items(
    vectors: sp.csr_matrix, order: np.ndarray, params: TifuParams, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each user's `n` best items by the prediction: (row, col, score), best first per row.

    Items with a prediction of 0 (bought by neither the user nor a neighbour) are left out.
    """
    weights = _neighbour_weights(order, params.k, vectors.shape[0])
    out_rows, out_cols, out_scores = [], [], []
    n = min(n, vectors.shape[1])
    for start, stop in _blocks(vectors.shape[0]):
        block = params.alpha * vectors[start:stop].toarray()
        block += (1.0 - params.alpha) * (weights[start:stop] @ vectors).toarray()
        cols, scores = _best(block, n)
        row = np.repeat(np.arange(start, stop), cols.shape[1])
        keep = scores.ravel() > 0
        out_rows.append(row[keep])
        out_cols.append(cols.ravel()[keep])
        out_scores.append(scores.ravel()[keep])
    return np.concatenate(out_rows), np.concatenate(out_cols), np.concatenate(out_scores)


def _best(block: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the `n` largest values by (value descending, column ascending), exactly.

    A partition finds each row's n-th value; every larger value is taken, and
    of the values equal to it the ones in the lowest columns.
    """
    nth = -np.partition(-block, n - 1, axis=1)[:, n - 1 : n]
    above = block > nth
    equal = block == nth
    need = n - above.sum(axis=1, keepdims=True)
    chosen = above | equal
    # Rows with more values equal to the n-th than places left: keep the lowest columns only.
    # (Few rows; a cumulative sum over every row would cost more than the rest together.)
    crowded = np.nonzero(chosen.sum(axis=1) > n)[0]
    if crowded.size:
        keep = np.cumsum(equal[crowded], axis=1) <= need[crowded]
        chosen[crowded] = above[crowded] | (equal[crowded] & keep)
    cols = np.nonzero(chosen)[1].reshape(-1, n)  # n per row, in row then column order
    scores = np.take_along_axis(block, cols, axis=1)
    # Columns ascend within each row: a stable sort by -score keeps that order for ties.
    key = np.argsort(-scores, axis=1, kind="stable")
    return np.take_along_axis(cols, key, axis=1), np.take_along_axis(scores, key, axis=1)
