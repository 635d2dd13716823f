"""Exact expected-F1 maximisation with the "None" token, for one order.

Model of the truth: with probability ``p_none`` the order has no reorders (its
truth is the single token ``None``); otherwise its items are independent with
probabilities ``p_1..p_n`` *conditioned on at least one being present*. With the
default ``p_none = prod(1 - p_i)`` this is plain independence, an empty draw
being the ``None`` order.

A prediction is ``k`` products plus, optionally, the ``None`` token. For a fixed
size the best products are the ``k`` most probable (the usual exchange
argument), so the search is over ``k = 0..n`` and with/without ``None``. With
``X`` the true items among the top ``k`` and ``Y`` those among the rest,

    E[F1 | k, w] = p_none * (2 / (k + 2) if w else 0)
                 + (1 - p_none) / P(X + Y >= 1) * E[2 X / (k + w + X + Y)]

(the second expectation is over plain independence; its terms with ``X = 0``
vanish, which is why conditioning reduces to one division). The expectation is
an O(n^2) dynamic programme (Jansche 2007; Ye et al. 2012): the distribution of
``X`` is built forwards over ``k``, and ``S_k(m) = E[1 / (m + Y_k)]`` backwards
via ``S_{k-1}(m) = (1 - p_k) S_k(m) + p_k S_k(m + 1)``. Every step is a convex
combination of non-negative numbers, so it loses no precision for tiny or
extreme probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numba import njit

__all__ = ["TIE_TOLERANCE", "BasketChoice", "best_basket", "expected_f1_by_size"]

TIE_TOLERANCE = 1e-12
"""A larger basket (or adding ``None``) must beat a smaller one by more than this."""


@dataclass(frozen=True)
class BasketChoice:
    """The F1-optimal basket of one order.

    Attributes
    ----------
    k
        Number of products chosen (the ``k`` most probable).
    with_none
        Whether the ``None`` token is added.
    expected_f1
        Expected F1 of this basket under the model.
    items
        Indices into the input probabilities of the chosen products, in
        descending probability (ties: lower index first).
    """

    k: int
    with_none: bool
    expected_f1: float
    items: tuple[int, ...] = ()


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def _fill_table(
    p: np.ndarray,
    p_none: float,
    tri: np.ndarray,
    s: np.ndarray,
    two_x: np.ndarray,
    table: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Expected F1 for every ``(k, with_none)`` into ``table[k, w]``.

    ``p`` is sorted descending; ``p_none`` is NaN for the default. Scratch,
    reused across orders: ``tri`` of ``(n + 1)(n + 2) / 2`` and ``s`` of
    ``2 n + 2`` slots; ``two_x[j] = 2 (j + 1)`` for at least ``n`` entries.
    """
    n = p.shape[0]
    log_p0 = 0.0
    for i in range(n):
        log_p0 += np.log1p(-p[i])
    if np.isnan(p_none):
        pn = np.exp(log_p0)
        factor = 1.0  # (1 - P0) / P(>=1) under plain independence
    else:
        pn = p_none
        # -expm1 keeps P(at least one) accurate when every p is tiny.
        q = -np.expm1(log_p0)
        # All p = 0: no item can ever be right, so the non-None branch scores 0.
        factor = (1.0 - pn) / q if q > 0.0 else 0.0
    table[0, 0] = 0.0  # an empty prediction scores 0 against any truth
    table[0, 1] = pn
    if n == 0:
        return

    # Forward: row k of the triangle is P(X_k = x), x = 0..k, for the top k items.
    # (Loops run over slices, never tri[off + x]: that lets LLVM vectorise them, ~5x faster.)
    tri[0] = 1.0
    for k in range(1, n + 1):
        pk = p[k - 1]
        qk = 1.0 - pk
        start = k * (k + 1) // 2
        prev = tri[start - k : start]
        cur = tri[start : start + k + 1]
        cur[0] = prev[0] * qk
        for x in range(1, k):
            cur[x] = prev[x] * qk + prev[x - 1] * pk
        cur[k] = prev[k - 1] * pk

    # Backward: s[m] = E[1 / (m + Y_k)], Y_k the true items after position k.
    for m in range(1, 2 * n + 2):
        s[m] = 1.0 / m
    for k in range(n, 0, -1):
        start = k * (k + 1) // 2
        row = tri[start + 1 : start + k + 1]  # P(X_k = x), x = 1..k
        s0 = s[k + 1 : 2 * k + 1]  # 1 / (k + x + Y), x = 1..k
        s1 = s[k + 2 : 2 * k + 2]  # the same with the None token predicted
        a0 = 0.0
        a1 = 0.0
        for j in range(k):
            c = two_x[j] * row[j]
            a0 += c * s0[j]
            a1 += c * s1[j]
        table[k, 0] = factor * a0
        table[k, 1] = factor * a1 + pn * 2.0 / (k + 2.0)
        pk = p[k - 1]
        qk = 1.0 - pk
        # Only m in [2, 2k - 1] is read again at k - 1.
        for m in range(2, 2 * k):
            s[m] = qk * s[m] + pk * s[m + 1]


@njit(cache=True, nogil=True)
def _choose(table: np.ndarray, n: int, tol: float) -> tuple[int, bool, float]:  # pragma: no cover
    """Best ``(k, with_none)``; ties go to fewer products, then no ``None``."""
    best_k = 0
    best_w = True
    best = table[0, 1]  # empty predictions are never returned: n = 0 means None
    for k in range(1, n + 1):
        for w in range(2):
            v = table[k, w]
            if v > best + tol:
                best = v
                best_k = k
                best_w = w == 1
    return best_k, best_w, best


@njit(cache=True, nogil=True)
def _has_duplicate(
    values: np.ndarray, keys: np.ndarray, used: np.ndarray
) -> bool:  # pragma: no cover
    """Whether ``values`` repeats an entry: an open-addressing hash set, O(m) per order."""
    m = values.shape[0]
    if m < 2:
        return False
    size = 2
    bits = 1
    while size < 2 * m:
        size <<= 1
        bits += 1
    used[:size] = False
    for j in range(m):
        x = values[j]
        # Fibonacci hashing: the top bits of x * 2^64 / golden ratio.
        h = np.int64((np.uint64(x) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - bits))
        while used[h]:
            if keys[h] == x:
                return True
            h = (h + 1) & (size - 1)
        used[h] = True
        keys[h] = x
    return False


@njit(cache=True, nogil=True)
def _select_csr(
    p: np.ndarray, product: np.ndarray, offsets: np.ndarray, p_none: np.ndarray, tol: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover
    """Choose the baskets of many orders laid out CSR-style (rows grouped by order).

    Returns per order ``k``, ``with_none``, expected F1 and whether a product
    is listed twice; and ``perm``, the row indices with each order's rows in
    descending ``p`` (ties: ascending product id), so its first ``k`` are the basket.
    """
    n_orders = offsets.shape[0] - 1
    max_n = 0
    for o in range(n_orders):
        max_n = max(max_n, offsets[o + 1] - offsets[o])
    tri = np.empty((max_n + 1) * (max_n + 2) // 2)
    s = np.empty(2 * max_n + 2)
    table = np.empty((max_n + 1, 2))
    two_x = 2.0 * np.arange(1, max_n + 1).astype(np.float64)
    ps = np.empty(max_n)
    neg = np.empty(max_n)
    keys = np.empty(4 * max_n + 2, dtype=product.dtype)
    used = np.empty(4 * max_n + 2, dtype=np.bool_)
    perm = np.empty(p.shape[0], dtype=np.int64)
    ks = np.empty(n_orders, dtype=np.int64)
    ws = np.empty(n_orders, dtype=np.bool_)
    ef = np.empty(n_orders)
    dup = np.zeros(n_orders, dtype=np.bool_)
    for o in range(n_orders):
        lo = offsets[o]
        m = offsets[o + 1] - lo
        dup[o] = _has_duplicate(product[lo : lo + m], keys, used)
        for j in range(m):
            neg[j] = -p[lo + j]
        order = np.argsort(neg[:m], kind="mergesort")
        for j in range(m):
            ps[j] = p[lo + order[j]]
        # Equal p: ascending product id, so the basket does not depend on the row order.
        j = 0
        while j < m:
            end = j + 1
            while end < m and ps[end] == ps[j]:
                end += 1
            for a in range(j + 1, end):
                cur = order[a]
                b = a
                while b > j and product[lo + order[b - 1]] > product[lo + cur]:
                    order[b] = order[b - 1]
                    b -= 1
                order[b] = cur
            j = end
        for j in range(m):
            perm[lo + j] = lo + order[j]
        _fill_table(ps[:m], p_none[o], tri, s, two_x, table)
        k, w, v = _choose(table, m, tol)
        ks[o] = k
        ws[o] = w
        ef[o] = v
    return ks, ws, ef, dup, perm


def _check_probabilities(p: npt.ArrayLike, p_none: float | None) -> tuple[np.ndarray, float]:
    arr = np.asarray(p, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"probabilities must be one-dimensional, got shape {arr.shape}")
    bad = ~((arr >= 0.0) & (arr <= 1.0))  # also catches NaN
    if bad.any():
        raise ValueError(
            f"probabilities must lie in [0, 1]; {int(bad.sum())} do not, e.g. {arr[bad][:3].tolist()}"
        )
    if p_none is None:
        return arr, float("nan")
    if not 0.0 <= p_none <= 1.0:
        raise ValueError(f"p_none must lie in [0, 1], got {p_none}")
    return arr, float(p_none)


def _scratch(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    tri, s, table = np.empty((n + 1) * (n + 2) // 2), np.empty(2 * n + 2), np.empty((n + 1, 2))
    return tri, s, 2.0 * np.arange(1, n + 1, dtype=np.float64), table


def expected_f1_by_size(p: npt.ArrayLike, p_none: float | None = None) -> np.ndarray:
    """Expected F1 of every candidate basket of one order.

    Parameters
    ----------
    p
        Item probabilities, in any order.
    p_none
        Probability that the order has no reorders; ``None`` means
        ``prod(1 - p)`` (plain independence).

    Returns
    -------
    numpy.ndarray
        Shape ``(n + 1, 2)``: entry ``[k, w]`` is the expected F1 of the ``k``
        most probable products, plus ``None`` when ``w == 1``. ``[0, 0]`` (the
        empty prediction) is 0.
    """
    arr, pn = _check_probabilities(p, p_none)
    srt = np.sort(arr)[::-1].copy()
    tri, s, two_x, table = _scratch(srt.size)
    _fill_table(srt, pn, tri, s, two_x, table)
    return table


def best_basket(p: npt.ArrayLike, p_none: float | None = None) -> BasketChoice:
    """The basket of one order that maximises expected F1.

    Parameters
    ----------
    p
        Item probabilities, in any order.
    p_none
        Probability that the order has no reorders (from a None model); ``None``
        means ``prod(1 - p)``, i.e. independent items.

    Returns
    -------
    BasketChoice
        ``k`` products (the most probable), whether ``None`` is added, the
        expected F1 and the chosen indices. Ties go to fewer products, then to
        no ``None``; with no items the answer is ``None`` alone.
    """
    arr, pn = _check_probabilities(p, p_none)
    order = np.argsort(-arr, kind="stable")
    srt = np.ascontiguousarray(arr[order])
    tri, s, two_x, table = _scratch(srt.size)
    _fill_table(srt, pn, tri, s, two_x, table)
    k, with_none, value = _choose(table, srt.size, TIE_TOLERANCE)
    return BasketChoice(
        k=int(k),
        with_none=bool(with_none),
        expected_f1=float(value),
        items=tuple(int(i) for i in order[:k]),
    )
