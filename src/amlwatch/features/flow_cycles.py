"""Time-respecting cycles: does a payment close a cycle whose hops happened in order?

For row i, u -> v at minute t (u != v), the answer is 1 + the fewest hops L
(1 <= L <= k - 1) of a path v = x_0 -> x_1 -> ... -> x_L = u made of rows
p_1 < p_2 < ... < p_L < i, row p_h paying x_{h-1} -> x_h, every row in the
window (t_p > t - Δ) and none a self-transfer; 0 when there is none.

The search is an earliest-arrival one, level by level: after level h each
reached account holds the earliest row by which money from v can have
arrived there in h hops or fewer; only accounts whose arrival improved are
expanded at the next level, and an account's payments are read from the
first one after its arrival (its rows are sorted), so late arrivals cost
little. The shortest time-respecting walk is a simple path (cutting a
revisit keeps the order), so the level at which u is first reached is L.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["cycle_lengths"]


@numba.njit(cache=True)
def _kernel(
    src: np.ndarray,
    dst: np.ndarray,
    minute: np.ndarray,
    out_ptr: np.ndarray,
    out_idx: np.ndarray,
    n: int,
    delta: int,
    k: int,
) -> np.ndarray:  # pragma: no cover - compiled; tested against the brute-force twin
    m = len(src)
    out = np.zeros(m, dtype=np.int64)
    arrival = np.zeros(n, dtype=np.int64)  # valid where mark[x] == i
    mark = np.full(n, -1, dtype=np.int64)
    frontier = np.empty(n, dtype=np.int64)
    frontier_at = np.empty(n, dtype=np.int64)  # arrivals as of the previous level
    nxt = np.empty(n, dtype=np.int64)
    in_next = np.full(n, -1, dtype=np.int64)
    start = 0
    for i in range(m):
        u, v, t = src[i], dst[i], minute[i]
        while minute[start] <= t - delta:  # first row of the window (minutes ascend)
            start += 1
        if u == v:
            continue
        mark[v] = i
        arrival[v] = start - 1  # v's money may leave on any row of the window
        frontier[0], frontier_at[0] = v, start - 1
        size = 1
        for level in range(1, k):
            n_next = 0
            for f in range(size):
                x, after = frontier[f], frontier_at[f]
                lo, hi = out_ptr[x], out_ptr[x + 1]
                p = lo + np.searchsorted(out_idx[lo:hi], after, side="right")
                while p < hi and out_idx[p] < i:
                    row = out_idx[p]
                    y = dst[row]
                    if mark[y] != i or row < arrival[y]:
                        mark[y], arrival[y] = i, row
                        if in_next[y] != i * 8 + level:
                            in_next[y] = i * 8 + level
                            nxt[n_next] = y
                            n_next += 1
                    p += 1
            if mark[u] == i:
                out[i] = level + 1
                break
            for f in range(n_next):
                frontier[f], frontier_at[f] = nxt[f], arrival[nxt[f]]
            size = n_next
            if size == 0:
                break
    return out


def cycle_lengths(
    src: np.ndarray,
    dst: np.ndarray,
    minute: np.ndarray,
    out_ptr: np.ndarray,
    out_idx: np.ndarray,
    n: int,
    delta: int,
    k: int,
) -> np.ndarray:
    """Per row, the time-respecting cycle length (see the module docstring); `out_*` is the
    CSR of non-self-transfer rows by sender, rows ascending."""
    if len(src) == 0:
        return np.zeros(0, dtype=np.int64)
    return _kernel(src, dst, minute, out_ptr, out_idx, n, delta, k)
