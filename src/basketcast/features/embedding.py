"""Product embeddings learned from the baskets, and how close each candidate is to the user's taste.

``fit`` (shared across users, on every user's visible history at the depth)
factorises the product × user matrix of purchase counts:

- **Product × user, not product × order.** Two products are alike when the
  same people buy them; the user matrix has one non-zero per (user,
  product) pair, about 13M at full Instacart scale against 32M order lines.
- **Weighting: TF-IDF with cosine-normalised users** (SMART "ltc").
  ``log1p(count)`` damps a staple bought fifty times; the product's inverse
  buyer frequency, ``log(users / buyers) + 1``, damps what everyone buys
  (bananas tell nothing about taste); each user's column is then scaled to
  unit length, so a user with 3,000 lines weighs as much as one with 30
  and cannot own the components alone. PPMI was the alternative: it needs
  the same counts but drops every below-chance pair, which on a sparse
  user matrix throws most of it away; TF-IDF keeps every purchase.
- **Truncated SVD** (`scipy.sparse.linalg.svds`, ARPACK) into `DIMS`
  components, started from a fixed vector drawn from `SEED`, on a matrix
  built in a fixed (product, user) order: two fits of the same history give
  the same bits on the CPU. A product's vector is its row of ``U Σ``, L2
  normalised: the cosine of two such rows is the cosine of the two
  products' buyer profiles in the best rank-`DIMS` approximation of the
  weighted matrix (``X_k X_kᵀ = U Σ² Uᵀ``).
- **Products with fewer than `MIN_BUYERS` buyers get no vector** (null
  features): one buyer's basket places a product anywhere.

`DIMS` = 16: the features are cosines, which the leading components
dominate; the public data sets (≤ 2,500 users) support few reliable
components beyond them; and transform joins ``DIMS`` floats to every
history pair (13M × 16 float32 = 0.8 GB at full scale).

Each depth's fit is a separate SVD, so the components' signs, order and
rotation (within near-equal singular values) can differ between the
training depths (1..k) and depth 0. So the features are **only
rotation-invariant quantities** (cosines), never raw components:

- ``emb_user_cos``: the product against the user's taste, the
  purchase-count-weighted mean of the vectors of their visible history;
- ``emb_recent_cos``: against the mean vector of the user's last visible order;
- ``emb_other_max_cos``: against its closest relative among the *other*
  products the user has bought (a substitute or a companion).

``transform`` reads only the user's own history and the fitted vectors:
Polars joins, NumPy row-wise dot products, and for the closest other
product one compiled (Numba) pass over each user's pairs of products,
O(Σ n_u² · DIMS) for n_u distinct products of user u.

Cost (2-core machine, benchmarks/README.md): at full scale (206,209
synthetic users, 13M user-product pairs) the fit takes ~40 CPU s and
~1.9 GB above the lines per depth; the transform ~3 CPU s per 20,000 users.
Off by default (`features.include = ["embedding"]`): see
benchmarks/README.md for what it gave and what it cost.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import scipy.sparse as sp
from numba import njit
from scipy.sparse.linalg import svds

from basketcast.features.family import FeatureFamily, Scope, StatPlans, Stats, join_on
from basketcast.features.history import History

__all__ = [
    "DIMS",
    "EMBEDDING",
    "MIN_BUYERS",
    "SEED",
    "EmbeddingFamily",
    "embedding_values",
    "product_vectors",
]

DIMS = 16
"""Components of a product vector (see the module docstring)."""
MIN_BUYERS = 2
"""Fewest distinct buyers a product needs to get a vector."""
SEED = 12
"""Seeds the SVD's start vector: the fit is a function of the history alone."""
VECTOR_COLUMNS = [f"emb_{i}" for i in range(DIMS)]

DESCRIPTIONS: dict[str, str] = {
    "emb_user_cos": "cosine of the product's basket embedding and the user's count-weighted mean one",
    "emb_recent_cos": "cosine of the product's basket embedding and the mean of the user's last order",
    "emb_other_max_cos": "largest cosine of the product's embedding with another product the user bought",
}

_CHUNK = 1 << 20
"""Rows per block of the row-wise dot products (bounds the gathered copy of the user vectors)."""


def _empty_vectors(dtype: pl.DataType) -> pl.DataFrame:
    return pl.DataFrame(schema={"product_id": dtype} | dict.fromkeys(VECTOR_COLUMNS, pl.Float32))


def product_vectors(
    lines: pl.DataFrame, *, dims: int = DIMS, min_buyers: int = MIN_BUYERS, seed: int = SEED
) -> pl.DataFrame:
    """``product_id, emb_0 .. emb_{DIMS-1}`` (float32, unit length), from ``user_id, product_id`` lines.

    Components past ``dims`` (or past what the matrix's rank allows) are zero.
    Products with fewer than ``min_buyers`` buyers have no row.
    """
    dtype = lines.schema["product_id"]
    counts = lines.group_by("product_id", "user_id").agg(n=pl.len())
    n_users = counts.get_column("user_id").n_unique()
    counts = (
        counts.with_columns(buyers=pl.len().over("product_id"))
        .filter(pl.col("buyers") >= min_buyers)
        .sort(
            "product_id", "user_id"
        )  # a fixed entry order: the matrix-vector sums repeat bit for bit
    )
    if counts.is_empty():
        return _empty_vectors(dtype)
    products, row = np.unique(counts.get_column("product_id").to_numpy(), return_inverse=True)
    _, col = np.unique(counts.get_column("user_id").to_numpy(), return_inverse=True)
    idf = np.log(n_users / counts.get_column("buyers").to_numpy()) + 1.0
    weight = np.log1p(counts.get_column("n").to_numpy().astype(np.float64)) * idf
    norms = np.sqrt(np.bincount(col, weights=weight**2))
    weight /= norms[col]
    matrix = sp.csr_matrix((weight, (row, col)), shape=(products.size, int(col.max()) + 1))
    k = min(dims, min(matrix.shape) - 1)  # ARPACK needs k < min(shape)
    vectors = np.zeros((products.size, dims))
    if k >= 1:
        v0 = np.random.default_rng(seed).uniform(-1.0, 1.0, size=min(matrix.shape))
        u, s, _ = svds(matrix, k=k, v0=v0, solver="arpack")
        order = np.argsort(-s, kind="stable")
        u = u[:, order] * s[order]
        # Fix each component's sign (its largest entry positive): only for a tidy saved
        # table; the features are cosines and do not depend on it.
        u *= np.where(u[np.abs(u).argmax(axis=0), np.arange(k)] < 0, -1.0, 1.0)
        vectors[:, :k] = u
    length = np.linalg.norm(vectors, axis=1)
    keep = length > 1e-12
    vectors = (vectors[keep] / length[keep, None]).astype(np.float32)
    frame = pl.DataFrame({"product_id": pl.Series(products[keep]).cast(dtype)})
    return frame.with_columns(
        pl.Series(name, vectors[:, i]) for i, name in enumerate(VECTOR_COLUMNS)
    )


def _row_dots(rows: np.ndarray, per_group: np.ndarray, group: np.ndarray) -> np.ndarray:
    """``rows[i] · per_group[group[i]]`` for every i, in blocks of `_CHUNK` rows."""
    out = np.empty(rows.shape[0], dtype=np.float32)
    for start in range(0, rows.shape[0], _CHUNK):
        stop = start + _CHUNK
        out[start:stop] = np.einsum("ij,ij->i", rows[start:stop], per_group[group[start:stop]])
    return out


def _cosines_to(vectors: np.ndarray, sums: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Cosine of each (unit) row with its group's summed vector; NaN where that sum is zero."""
    length = np.linalg.norm(sums, axis=1)
    unit = np.divide(sums, length[:, None], out=np.zeros_like(sums), where=length[:, None] > 0)
    cos = _row_dots(vectors, unit.astype(np.float32), group)
    cos[length[group] == 0] = np.nan
    return cos


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def _other_max_kernel(
    vectors: np.ndarray, has: np.ndarray, starts: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - compiled; tested through embedding_values
    n = vectors.shape[0]
    for g in range(starts.size):
        end = starts[g + 1] if g + 1 < starts.size else n
        rows = np.flatnonzero(has[starts[g] : end]) + starts[g]
        block = vectors[rows].astype(np.float64)  # one user's products with a vector
        best = np.full(rows.size, -np.inf)
        for i in range(rows.size):
            for j in range(i + 1, rows.size):
                dot = 0.0
                for d in range(block.shape[1]):
                    dot += block[i, d] * block[j, d]
                best[i] = max(best[i], dot)
                best[j] = max(best[j], dot)
        out[rows] = best


def _other_max(vectors: np.ndarray, has: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per row, the largest cosine with another row of its user that has a vector (NaN: none).

    ``starts``: where each user's contiguous rows begin. Each pair of a user's rows
    once, in a compiled loop: O(Σ n_u² · DIMS) work and no n_u × n_u Gram matrix (a
    BLAS product per user was slower, and far slower with its threads on a busy machine).
    """
    out = np.full(vectors.shape[0], -np.inf)
    _other_max_kernel(np.ascontiguousarray(vectors), has, starts.astype(np.int64), out)
    out[np.isneginf(out)] = np.nan  # no other product with a vector
    return out.astype(np.float32)


def embedding_values(lines: pl.DataFrame, vectors: pl.DataFrame) -> pl.DataFrame:
    """One row per (user_id, product_id) of ``lines`` with the `DESCRIPTIONS` columns.

    ``lines``: ``user_id, product_id, order_number`` of the users to score
    (their visible history); ``vectors``: `product_vectors` (fitted on everyone).
    """
    pairs = (
        lines.group_by("user_id", "product_id")
        .agg(n=pl.len(), last=pl.col("order_number").max())
        .with_columns(recent=pl.col("last") == pl.col("last").max().over("user_id"))
        .sort("user_id", "product_id")
        .join(vectors, on="product_id", how="left", maintain_order="left")
    )
    keys = pairs.select("user_id", "product_id")
    if pairs.is_empty():
        return keys.with_columns(pl.lit(None, pl.Float32).alias(c) for c in DESCRIPTIONS)
    matrix = pairs.select(VECTOR_COLUMNS).to_numpy().astype(np.float32)  # nulls read as NaN
    has = ~np.isnan(matrix[:, 0])
    matrix[~has] = 0.0
    users = pairs.get_column("user_id").to_numpy()
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    group = np.repeat(np.arange(starts.size), np.diff(np.append(starts, users.size)))
    count = pairs.get_column("n").to_numpy().astype(np.float64)
    recent = pairs.get_column("recent").to_numpy().astype(np.float64)
    taste = np.add.reduceat(matrix * count[:, None], starts, axis=0)
    last = np.add.reduceat(matrix * recent[:, None], starts, axis=0)
    user_cos = _cosines_to(matrix, taste, group)
    recent_cos = _cosines_to(matrix, last, group)
    for values in (user_cos, recent_cos):
        values[~has] = np.nan
    other = _other_max(matrix, has, starts)
    return keys.with_columns(
        pl.Series("emb_user_cos", user_cos, nan_to_null=True),
        pl.Series("emb_recent_cos", recent_cos, nan_to_null=True),
        pl.Series("emb_other_max_cos", other, nan_to_null=True),
    )


class EmbeddingFamily(FeatureFamily):
    """Cosines between a candidate's fitted basket embedding and the user's own history."""

    def fit(self, history: History) -> StatPlans:
        lines = history.lines.select("user_id", "product_id").collect()
        return {"vectors": product_vectors(lines).lazy()}

    def transform(self, frame: pl.LazyFrame, history: History, stats: Stats) -> pl.LazyFrame:
        # Only users with a target at this depth have candidate rows to fill.
        lines = history.lines.select("user_id", "product_id", "order_number").join(
            history.targets.select("user_id"), on="user_id", how="semi"
        )
        values = embedding_values(lines.collect(), stats["vectors"])
        return join_on(frame, values.lazy(), ["user_id", "product_id"])


EMBEDDING = EmbeddingFamily(
    joins_product_stats=True,
    name="embedding",
    scope=Scope.USER_PRODUCT,
    keys=("user_id", "product_id"),
    columns=DESCRIPTIONS,
    default_on=False,
)
