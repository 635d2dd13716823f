"""A straightforward per-order pure-Python version of the expected-F1 DP.

Not used by the library: the tests check the compiled kernel against it, and
``benchmarks/f1_speed.py`` measures how much faster the kernel is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["best_basket_python", "expected_f1_table_python"]


def expected_f1_table_python(p: Sequence[float], p_none: float | None = None) -> list[list[float]]:
    """``table[k][w]``: expected F1 of the top ``k`` items plus ``None`` if ``w``."""
    p = sorted(p, reverse=True)
    n = len(p)
    log_p0 = sum(math.log1p(-x) if x < 1.0 else -math.inf for x in p)
    if p_none is None:
        pn, factor = math.exp(log_p0), 1.0
    else:
        q = -math.expm1(log_p0)
        pn, factor = p_none, ((1.0 - p_none) / q if q > 0.0 else 0.0)
    # dist[k][x] = P(x of the top k items are true)
    dist = [[1.0]]
    for k in range(1, n + 1):
        prev, pk = dist[-1], p[k - 1]
        row = [0.0] * (k + 1)
        for x in range(k + 1):
            stay = prev[x] * (1.0 - pk) if x < k else 0.0
            move = prev[x - 1] * pk if x > 0 else 0.0
            row[x] = stay + move
        dist.append(row)
    s = [0.0] + [1.0 / m for m in range(1, 2 * n + 2)]
    table = [[0.0, pn]] + [[0.0, 0.0] for _ in range(n)]
    for k in range(n, 0, -1):
        a0 = sum(2.0 * x * dist[k][x] * s[k + x] for x in range(1, k + 1))
        a1 = sum(2.0 * x * dist[k][x] * s[k + x + 1] for x in range(1, k + 1))
        table[k] = [factor * a0, factor * a1 + pn * 2.0 / (k + 2.0)]
        pk = p[k - 1]
        for m in range(2, 2 * k):
            s[m] = (1.0 - pk) * s[m] + pk * s[m + 1]
    return table


def best_basket_python(
    p: Sequence[float], p_none: float | None = None, *, tol: float = 1e-12
) -> tuple[int, bool, float]:
    """``(k, with_none, expected_f1)`` chosen with the library's tie rules."""
    table = expected_f1_table_python(p, p_none)
    best = (0, True, table[0][1])
    for k in range(1, len(table)):
        for w in (0, 1):
            if table[k][w] > best[2] + tol:
                best = (k, bool(w), table[k][w])
    return best
