"""The Numba kernel of the synthetic generator: each user's orders drawn with a counter-based RNG.

Pure functions of (seed, user index, the catalogue arrays), so users can be
simulated in any order or in parallel threads and still give the same data.
`basketcast.data.sources.synthetic` documents the planted model and calls
`_simulate_users`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

MAX_ORDERS = 100

# --- the per-user kernel ------------------------------------------------------------------
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2**-53


@njit(cache=True)
def _splitmix(z: np.uint64) -> np.uint64:
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def _uniform(state: np.uint64) -> tuple[float, np.uint64]:
    """A float in [0, 1) and the advanced state (SplitMix64)."""
    state = state + _GOLDEN
    return float(_splitmix(state) >> np.uint64(11)) * _TO_UNIT, state


@njit(cache=True)
def _poisson(lam: float, state: np.uint64) -> tuple[int, np.uint64]:
    """Poisson(lam) by inversion; lam stays below ~60 here, so exp(-lam) never underflows."""
    if lam <= 0.0:
        return 0, state
    u, state = _uniform(state)
    k = 0
    p = math.exp(-lam)
    c = p
    while u > c:
        k += 1
        p *= lam / k
        c += p
        if k > lam and p < 1e-17:  # rounding left c just short of u
            break
    return k, state


@njit(cache=True)
def _draw_new(
    cdf: np.ndarray, rank_product: np.ndarray, slot: np.ndarray, state: np.uint64
) -> tuple[int, np.uint64]:
    """A product not yet in the user's history (slot < 0), by popularity; rejection sampling."""
    for _ in range(10_000):
        u, state = _uniform(state)
        rank = int(np.searchsorted(cdf, u, side="right"))
        if rank >= cdf.size:
            rank = cdf.size - 1
        product = rank_product[rank]
        if slot[product] < 0:
            return product, state
    # The history covers almost all popularity mass: take the next free product by rank.
    u, state = _uniform(state)
    start = int(u * cdf.size)
    for i in range(cdf.size):
        product = rank_product[(start + i) % cdf.size]
        if slot[product] < 0:
            return product, state
    return -1, state


@njit(cache=True)
def _grow(a: np.ndarray, size: int) -> np.ndarray:
    b = np.empty(size, a.dtype)
    b[: a.size] = a
    return b


@njit(cache=True)
def _emit(
    rows: np.ndarray,
    prods: np.ndarray,
    carts: np.ndarray,
    res: np.ndarray,
    n: int,
    row: int,
    picked: np.ndarray,
    n_re: int,
    first_new: int,
    h_prod: np.ndarray,
    size: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Append one order's lines (reorders first, then new products), growing the buffers as needed."""
    if n + size > rows.size:
        cap = max(rows.size + rows.size // 2, n + size)
        rows, prods, carts, res = (
            _grow(rows, cap),
            _grow(prods, cap),
            _grow(carts, cap),
            _grow(res, cap),
        )
    for i in range(size):
        k = picked[i] if i < n_re else first_new + i - n_re
        rows[n] = row
        prods[n] = h_prod[k]
        carts[n] = i + 1
        res[n] = 1 if i < n_re else 0
        n += 1
    return rows, prods, carts, res, n


@njit(cache=True, nogil=True)
def _simulate_users(
    lo: int,
    hi: int,
    seed: np.uint64,
    n_orders: np.ndarray,
    order_start: np.ndarray,
    basket_scale: np.ndarray,
    days: np.ndarray,
    product_dept: np.ndarray,
    dept_offset: np.ndarray,
    cdf: np.ndarray,
    rank_product: np.ndarray,
    coef: np.ndarray,
    line_capacity: int,
) -> tuple[np.ndarray, ...]:
    """Baskets of users lo..hi-1: prior lines, target lines and target candidates.

    Lines are (order row, product, add_to_cart_order, reordered); candidates
    are (order row, product, p). Order rows index the orders table.
    """
    b0, b_share, b_last, b_rec, b_gap, b_user = coef[0], coef[1], coef[2], coef[3], coef[4], coef[5]
    c_new, new_floor, new_decay = coef[6], coef[7], coef[8]
    n_products = product_dept.size - 1
    slot = np.full(n_products + 1, -1, np.int32)  # product -> index in the history, or -1
    h_prod = np.empty(n_products, np.int32)
    h_count = np.empty(n_products, np.int32)
    h_last = np.empty(n_products, np.int32)
    picked = np.empty(n_products, np.int32)
    log_r = np.log(np.arange(1, MAX_ORDERS + 1).astype(np.float64))  # log_r[r - 1] = ln r

    cap = max(line_capacity, 16)
    p_row = np.empty(cap, np.int32)
    p_prod = np.empty(cap, np.int32)
    p_cart = np.empty(cap, np.int16)
    p_re = np.empty(cap, np.int8)
    n_p = 0
    tcap = max((hi - lo) * 16, 16)
    t_row = np.empty(tcap, np.int32)
    t_prod = np.empty(tcap, np.int32)
    t_cart = np.empty(tcap, np.int16)
    t_re = np.empty(tcap, np.int8)
    n_t = 0
    ccap = max((hi - lo) * 64, 16)
    c_row = np.empty(ccap, np.int32)
    c_prod = np.empty(ccap, np.int32)
    c_p = np.empty(ccap, np.float64)
    n_c = 0

    for user in range(lo, hi):
        state = _splitmix(seed ^ _splitmix(np.uint64(user) * _GOLDEN + _MIX2))
        n_t_orders = n_orders[user]
        m = basket_scale[user]
        n_hist = 0
        lines_re = 0  # reordered lines in orders 2..t-1
        lines_all = 0  # all lines in orders 2..t-1
        for t in range(1, n_t_orders + 1):
            row = order_start[user] + t - 1
            target = t == n_t_orders
            n_re = 0
            if t == 1:
                n_new, state = _poisson(m - 1.0, state)
                n_new += 1
            else:
                rho = lines_re / lines_all if lines_all > 0 else 0.5
                base = b0 + b_gap * (days[row] / 30.0 - 0.5) + b_user * (rho - 0.5)
                if target and n_c + n_hist > ccap:
                    ccap = max(2 * ccap, n_c + n_hist)
                    c_row = _grow(c_row, ccap)
                    c_prod = _grow(c_prod, ccap)
                    c_p = _grow(c_p, ccap)
                for k in range(n_hist):
                    r = t - h_last[k]
                    z = (
                        base
                        + b_share * h_count[k] / (t - 1)
                        - b_rec * log_r[r - 1]
                        + dept_offset[product_dept[h_prod[k]]]
                    )
                    if r == 1:
                        z += b_last
                    p = 1.0 / (1.0 + math.exp(-z))
                    if target:
                        c_row[n_c] = row
                        c_prod[n_c] = h_prod[k]
                        c_p[n_c] = p
                        n_c += 1
                    u, state = _uniform(state)
                    if u < p:
                        picked[n_re] = k
                        n_re += 1
                for i in range(n_re - 1, 0, -1):  # Fisher-Yates: reorders in random cart order
                    u, state = _uniform(state)
                    j = int(u * (i + 1))
                    picked[i], picked[j] = picked[j], picked[i]
                lam = c_new * m * max(new_floor, 1.0 / (1.0 + new_decay * (t - 1)))
                n_new, state = _poisson(lam, state)
                if n_re + n_new == 0:
                    n_new = 1
            n_new = min(n_new, n_products - n_hist)
            first_new = n_hist
            for _ in range(n_new):
                product, state = _draw_new(cdf, rank_product, slot, state)
                slot[product] = n_hist
                h_prod[n_hist] = product
                h_count[n_hist] = 0
                n_hist += 1
            size = n_re + n_new

            # Emit the order's lines: reorders first, then the new products.
            if target:
                t_row, t_prod, t_cart, t_re, n_t = _emit(
                    t_row, t_prod, t_cart, t_re, n_t, row, picked, n_re, first_new, h_prod, size
                )
            else:
                p_row, p_prod, p_cart, p_re, n_p = _emit(
                    p_row, p_prod, p_cart, p_re, n_p, row, picked, n_re, first_new, h_prod, size
                )
                if t >= 2:
                    lines_re += n_re
                    lines_all += size
            for i in range(size):
                k = picked[i] if i < n_re else first_new + i - n_re
                h_count[k] += 1
                h_last[k] = t
        for k in range(n_hist):
            slot[h_prod[k]] = -1
    return (
        p_row[:n_p].copy(), p_prod[:n_p].copy(), p_cart[:n_p].copy(), p_re[:n_p].copy(),
        t_row[:n_t].copy(), t_prod[:n_t].copy(), t_cart[:n_t].copy(), t_re[:n_t].copy(),
        c_row[:n_c].copy(), c_prod[:n_c].copy(), c_p[:n_c].copy(),
    )  # fmt: skip


# --- the public functions -----------------------------------------------------------------
