"""The flow kernels' shared index: a ledger's rows grouped by account, and one account's window.

`account_rows` groups rows by account (CSR: ``ptr[a]:ptr[a + 1]`` in ``idx``, rows
ascending); `rows_since` cuts, inside a compiled kernel, the part of one account's
rows that lies before a payment and inside its trailing window. Used by the
`flow` and `fresh` families.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["account_rows", "rows_since"]


def account_rows(key: np.ndarray, rows: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows grouped by account `key`, ascending within each account (a stable sort)."""
    order = np.argsort(key, kind="stable")
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(key, minlength=n), out=ptr[1:])
    return ptr, rows[order].astype(np.int64)


@numba.njit(cache=True, inline="always")
def rows_since(
    ptr: np.ndarray, idx: np.ndarray, minute: np.ndarray, a: int, i: int, since: int
) -> tuple[int, int]:  # pragma: no cover - compiled
    """[lo, hi) of account a's rows with row < i and minute > since (rows ascending)."""
    lo, hi = ptr[a], ptr[a + 1]
    hi = lo + np.searchsorted(idx[lo:hi], i)
    left, right = lo, hi
    while left < right:  # minutes ascend with rows: the first row after `since`
        mid = (left + right) // 2
        if minute[idx[mid]] > since:
            right = mid
        else:
            left = mid + 1
    return left, hi
