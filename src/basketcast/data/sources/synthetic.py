"""An Instacart-calibrated synthetic order history with a planted, known reorder probability.

`synthetic(users, seed=...)` returns the six Instacart tables plus the answer
key: `truth` (each target order's reordered products, submission style) and
`true_probs` (the exact probability with which every candidate was drawn).
`p_true` is the ground truth the later stages are checked against: a perfect
item model reaches its log loss, AUC and calibration, and an F1 optimiser fed
with it reaches the best achievable expected F1.

The generative process
----------------------
Catalogue (fixed, the same for every seed, like Instacart's): 49,688 products
in 134 aisles and 21 departments (every aisle in one department, every
department and aisle non-empty), named after Instacart's 21 departments.
Product popularity is Zipf-Mandelbrot over a fixed random ranking,
``w(rank) ∝ (rank + 10) ** -1``.

Per user u (ids 1..N), drawn up front:

- ``T`` orders including the target: ``min(100, 4 + floor(E * exp(2.35 + 0.7 Z)))``
  (E ~ Exp(1), Z ~ N(0, 1)): median 10, mean ≈ 16.5, a spike at the cap of 100;
- ``m_u ~ lognormal(ln 8.5, 0.5)``, clipped to [1, 60]: the user's basket scale;
- a habitual gap: weekly (45 %, 7 days, noise sd 2), monthly (30 %, 30 days,
  noise sd 6) or other (25 %, uniform 3..25 days, noise sd 1 + 0.25 * habit);
  each order's ``days_since_prior_order = round(clip(habit + noise, 0, 30))``,
  null for the first order;
- dow and hour of each order from Instacart's marginal distributions;
- test or train: exactly ``round(N * 75000 / 206209)`` users (a seeded choice)
  are test users, the rest train (131,209 / 75,000 at full scale).

Baskets, order t = 1..T (T is the target):

- t = 1: ``1 + Poisson(m_u - 1)`` distinct products drawn from the popularity.
- t >= 2: every product j in the history H (bought in orders 1..t-1) is
  reordered independently with probability ``p = sigmoid(z)``::

      z = B0 + B_SHARE * s + B_LAST * [r == 1] - B_REC * ln(r)
          + delta[dept(j)] + B_GAP * (g_t / 30 - 0.5) + B_USER * (rho - 0.5)

  with ``s = n_uj / (t - 1)`` (share of the user's previous orders holding j),
  ``r = t - (last order number holding j)`` (1 = bought in order t - 1),
  ``g_t`` = days_since_prior_order of order t, and ``rho`` = the user's reorder
  ratio so far: reordered lines / all lines over orders 2..t-1 (0.5 when there
  are none). ``delta`` is a fixed per-department offset (`DEPARTMENT_OFFSETS`,
  -1.0..1.0 in steps of 0.1, ranked by Instacart's department reorder rates).
  Then ``Poisson(C_NEW * m_u * max(NEW_FLOOR, 1 / (1 + NEW_DECAY (t - 1))))``
  distinct new products (not in H) are drawn from the popularity; an order
  left empty gets one new product, so every order has at least one line.
  ``add_to_cart_order`` lists the reorders first, in random order, then the
  new products.

The target order follows the same process. Its candidates are H at t = T, and
`p_true` is p above for each of them, a function of the observable history and
the target's own ``days_since_prior_order`` only, so a model can learn it
exactly. The target's reordered products are the truth (``"None"`` if there are
none). Train targets' lines go to ``order_products__train``; test targets have
no lines. ``reordered`` is 1 exactly when the user bought the product before.

Constants (see `PLANTED`): B0 = -3.24, B_SHARE = 3.0, B_LAST = 0.8, B_REC = 0.4,
B_GAP = -0.6, B_USER = 2.0, C_NEW = 0.88, NEW_FLOOR = 0.2, NEW_DECAY = 0.15.
B0, C_NEW and NEW_DECAY are calibrated (20,000 users, seeds 0 and 1) so that
≈ 59 % of prior lines are reorders and prior baskets average ≈ 10 lines; ≈ 5.6 %
of target orders then have no reorder (Instacart's train set: 6.6 %).
Known departures from Instacart: mean basket size follows a shallow U over
order_number (≈ 13 lines at orders 2-3, ≈ 8 at 20-70, ≈ 12 at 70-100), because
the history keeps growing and ``ln(r)`` forgets old products slowly; ≈ 1 % of
users sit at the cap of 100 orders (Instacart: 0.7 %).

Randomness: every user's baskets come from its own counter-based stream
(SplitMix64 keyed by the seed and the user index), so the output does not
depend on the number of threads; everything else comes from one NumPy
generator. Same (users, seed) gives identical tables.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numba
import numpy as np
import polars as pl
from numba import njit

from basketcast.data.schema import (
    AISLES,
    DEPARTMENTS,
    EVAL_SET,
    ORDERS,
    PRIOR,
    PRODUCTS,
    TABLES,
    TRAIN,
)
from basketcast.errors import UsageError
from basketcast.io import write_folder

__all__ = [
    "DEPARTMENT_NAMES",
    "DEPARTMENT_OFFSETS",
    "FULL_SCALE_USERS",
    "N_AISLES",
    "N_DEPARTMENTS",
    "N_PRODUCTS",
    "PLANTED",
    "PlantedModel",
    "SyntheticData",
    "synthetic",
    "write_synthetic",
]

FULL_SCALE_USERS = 206_209
FULL_SCALE_TEST_USERS = 75_000
N_PRODUCTS = 49_688
N_AISLES = 134
N_DEPARTMENTS = 21
MAX_ORDERS = 100
MIN_ORDERS = 4

# Orders per user: 4 + floor(Exp(1) * exp(N(mu, sigma))), capped at 100.
ORDERS_LOG_MU = 2.35
ORDERS_LOG_SIGMA = 0.7
# Basket scale per user: lognormal(ln 8.5, 0.5); the clip keeps Poisson inversion cheap.
BASKET_MEDIAN = 8.5
BASKET_LOG_SIGMA = 0.5
BASKET_SCALE_MAX = 60.0
# Product popularity, Zipf-Mandelbrot over a random ranking.
ZIPF_EXPONENT = 1.0
ZIPF_SHIFT = 10.0
# The catalogue (aisles, departments, popularity ranking) is fixed, whatever the seed.
CATALOGUE_SEED = 20170503

# Instacart's departments.csv, in id order (1..21).
DEPARTMENT_NAMES: tuple[str, ...] = (
    "frozen", "other", "bakery", "produce", "alcohol", "international", "beverages",
    "pets", "dry goods pasta", "bulk", "personal care", "meat seafood", "pantry",
    "breakfast", "canned goods", "dairy eggs", "household", "babies", "snacks", "deli",
    "missing",
)  # fmt: skip
# delta_dept by department id 1..21: -1.0..1.0 in steps of 0.1, ranked like Instacart's
# department reorder rates (dairy eggs highest, personal care lowest).
DEPARTMENT_OFFSETS: tuple[float, ...] = (
    -0.2, -0.6, 0.7, 0.8, 0.1, -0.8, 0.9, 0.5, -0.3, 0.3, -1.0,
    0.0, -0.9, -0.1, -0.4, 1.0, -0.5, 0.4, 0.2, 0.6, -0.7,
)  # fmt: skip

# Instacart's share of orders by day of week (0..6) and hour of day (0..23).
_DOW_WEIGHTS = np.array([600.9, 587.5, 467.3, 437.0, 426.3, 453.4, 448.8])
_HOUR_WEIGHTS = np.array(
    [22.8, 12.4, 7.5, 5.5, 5.5, 9.6, 30.5, 91.9, 178.2, 257.8, 288.4, 284.7,
     272.8, 277.9, 283.0, 283.6, 272.6, 228.8, 182.9, 140.6, 104.3, 78.4, 61.5, 40.0]
)  # fmt: skip

# Habitual gap between orders: (share, habit in days, noise sd); habit None = uniform 3..25.
_WEEKLY, _MONTHLY = 0.45, 0.30
_WEEKLY_SD, _MONTHLY_SD = 2.0, 6.0


@dataclass(frozen=True)
class PlantedModel:
    """Coefficients of the planted reorder probability (see the module docstring)."""

    b0: float = -3.24
    b_share: float = 3.0
    b_last: float = 0.8
    b_rec: float = 0.4
    b_gap: float = -0.6
    b_user: float = 2.0
    c_new: float = 0.88
    new_floor: float = 0.2
    new_decay: float = 0.15

    def as_array(self) -> np.ndarray:
        return np.array(
            [
                self.b0, self.b_share, self.b_last, self.b_rec, self.b_gap, self.b_user,
                self.c_new, self.new_floor, self.new_decay,
            ]
        )  # fmt: skip


PLANTED = PlantedModel()


@dataclass(frozen=True)
class SyntheticData:
    """A synthetic history and its answer key.

    Attributes
    ----------
    tables
        The six Instacart tables keyed by name, typed as in `basketcast.data.schema`.
    truth
        ``order_id, products`` for every target order (train and test): the
        reordered product ids, ascending and space-separated, or ``"None"``.
    true_probs
        ``order_id, user_id, product_id, p_true``: one row per candidate (target
        order × product the user bought before), with the planted probability.
    """

    tables: dict[str, pl.DataFrame]
    truth: pl.DataFrame
    true_probs: pl.DataFrame


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
def synthetic(users: int, *, seed: int, threads: int | None = None) -> SyntheticData:
    """Generate an Instacart-shaped history of `users` users with a planted reorder probability.

    Parameters
    ----------
    users
        Number of users (206,209 is Instacart's full scale, ≈ 32M prior lines).
    seed
        Non-negative seed; the same (users, seed) gives identical output.
    threads
        Worker threads for the basket kernel (default: Numba's thread count).
        The output does not depend on it.

    Returns
    -------
    SyntheticData
        The six tables, the truth of every target order and `true_probs`.
    """
    if users < 1:
        raise UsageError(f"--users must be at least 1, got {users}")
    if seed < 0:
        raise UsageError(f"--seed must be non-negative, got {seed}")
    seq = np.random.SeedSequence(seed)
    kernel_seed = seq.generate_state(1, np.uint64)[0]
    rng = np.random.default_rng(seq.spawn(1)[0])
    products, aisles, departments, product_dept, rank_product, cdf = _catalogue()

    # Per-user draws that do not depend on the history.
    n_orders = np.minimum(
        MAX_ORDERS,
        MIN_ORDERS
        + np.floor(
            rng.exponential(1.0, users) * np.exp(rng.normal(ORDERS_LOG_MU, ORDERS_LOG_SIGMA, users))
        ),
    ).astype(np.int64)
    basket_scale = np.clip(
        BASKET_MEDIAN * np.exp(rng.normal(0.0, BASKET_LOG_SIGMA, users)), 1.0, BASKET_SCALE_MAX
    )
    is_test = np.zeros(users, bool)
    is_test[rng.choice(users, size=_n_test_users(users), replace=False)] = True
    order_start = np.zeros(users, np.int64)
    np.cumsum(n_orders[:-1], out=order_start[1:])
    n_rows = int(n_orders.sum())

    # Per-order columns, one row per order in (user, order_number) order.
    user_of_row = np.repeat(np.arange(users), n_orders)
    order_number = (np.arange(n_rows) - order_start[user_of_row] + 1).astype(np.int32)
    days = _days_since_prior(rng, user_of_row, order_number, users)
    dow = rng.choice(7, size=n_rows, p=_DOW_WEIGHTS / _DOW_WEIGHTS.sum()).astype(np.int8)
    hour = rng.choice(24, size=n_rows, p=_HOUR_WEIGHTS / _HOUR_WEIGHTS.sum()).astype(np.int8)
    last = order_number == n_orders[user_of_row]
    eval_code = np.where(last, np.where(is_test[user_of_row], 2, 1), 0).astype(np.int8)
    # Shuffled order ids, as in Instacart: order_id says nothing about time.
    order_id = (rng.permutation(n_rows) + 1).astype(np.int64)

    parts = _run_kernel(
        kernel_seed,
        n_orders,
        order_start,
        basket_scale,
        days,
        product_dept,
        cdf,
        rank_product,
        threads=threads,
    )

    orders = pl.DataFrame(
        {
            "order_id": order_id,
            "user_id": user_of_row + 1,
            "eval_set": eval_code,
            "order_number": order_number,
            "order_dow": dow,
            "order_hour_of_day": hour,
            "days_since_prior_order": pl.Series(days, nan_to_null=True),
        }
    ).with_columns(
        pl.col("eval_set").replace_strict(
            [0, 1, 2], ["prior", "train", "test"], return_dtype=EVAL_SET
        ),
    )
    orders = orders.cast(ORDERS.columns)  # type: ignore[arg-type]

    prior = _lines(order_id, *parts[0:4]).cast(PRIOR.columns)  # type: ignore[arg-type]
    target_lines = _lines(order_id, *parts[4:8]).with_columns(
        eval_code=pl.Series(eval_code[parts[4]])
    )
    train = (
        target_lines.filter(pl.col("eval_code") == 1).drop("eval_code").cast(TRAIN.columns)  # type: ignore[arg-type]
    )
    c_row, c_prod, c_p = parts[8:11]
    true_probs = pl.DataFrame(
        {
            "order_id": order_id[c_row],
            "user_id": (user_of_row[c_row] + 1).astype(np.int64),
            "product_id": c_prod.astype(np.int64),
            "p_true": c_p,
        }
    )
    target_ids = pl.DataFrame({"order_id": order_id[last]})
    reordered = (
        target_lines.filter(pl.col("reordered") == 1)
        .sort("order_id", "product_id")
        .group_by("order_id", maintain_order=True)
        .agg(products=pl.col("product_id").cast(pl.String).str.join(" "))
    )
    truth = (
        target_ids.join(reordered, on="order_id", how="left")
        .with_columns(pl.col("products").fill_null("None"))
        .sort("order_id")
    )
    tables = {
        "orders": orders,
        "order_products__prior": prior,
        "order_products__train": train,
        "products": products,
        "aisles": aisles,
        "departments": departments,
    }
    return SyntheticData(tables=tables, truth=truth, true_probs=true_probs)


def write_synthetic(
    data: SyntheticData, out: str | Path, *, format: Literal["csv", "parquet"] = "csv"
) -> Path:
    """Write the tables as `<name>.<format>`, `truth.csv` (test orders only) and `true_probs.parquet`.

    All files are written as one unit (`basketcast.io.write_folder`): an
    interrupted write leaves the previous files or a folder marked as
    interrupted, never new answer keys beside old tables. Tables of an earlier
    write in the other format are removed (two files for one table would be
    refused as ambiguous).
    """
    suffix = {"csv": ".csv", "parquet": ".parquet"}[format]
    test_ids = data.tables["orders"].filter(pl.col("eval_set") == "test").select("order_id")
    files = {f"{name}{suffix}": frame for name, frame in data.tables.items()}
    files["truth.csv"] = data.truth.join(test_ids, on="order_id", how="semi")
    files["true_probs.parquet"] = data.true_probs
    supersede = [f"{name}{other}" for name in TABLES for other in (".csv", ".csv.gz", ".parquet")]
    return write_folder(out, files, supersede=supersede)


# --- helpers --------------------------------------------------------------------------------
def _n_test_users(users: int) -> int:
    """Instacart's test share: 75,000 of 206,209 users at full scale."""
    return round(users * FULL_SCALE_TEST_USERS / FULL_SCALE_USERS)


def _catalogue() -> tuple[
    pl.DataFrame, pl.DataFrame, pl.DataFrame, np.ndarray, np.ndarray, np.ndarray
]:
    """The fixed catalogue: products, aisles, departments, product -> department, popularity.

    Like Instacart's, the catalogue does not change with the seed: which
    departments the most popular products fall in moves the reorder share by
    several points, and the calibration holds for this one catalogue.
    Returns product_dept (index = product_id, 0 unused), rank_product (the
    product id of each popularity rank) and the popularity CDF over ranks.
    """
    rng = np.random.default_rng(CATALOGUE_SEED)
    # Every department gets one aisle, the other aisles a random department.
    aisle_dept = np.concatenate(
        [
            np.arange(1, N_DEPARTMENTS + 1),
            rng.integers(1, N_DEPARTMENTS + 1, N_AISLES - N_DEPARTMENTS),
        ]
    )
    # Every aisle gets one product, the other products a random aisle.
    product_aisle = rng.permutation(
        np.concatenate(
            [np.arange(1, N_AISLES + 1), rng.integers(1, N_AISLES + 1, N_PRODUCTS - N_AISLES)]
        )
    )
    product_dept = np.zeros(N_PRODUCTS + 1, np.int32)
    product_dept[1:] = aisle_dept[product_aisle - 1]
    product_id = np.arange(1, N_PRODUCTS + 1)
    products = pl.DataFrame(
        {
            "product_id": product_id,
            "product_name": pl.Series(product_id).cast(pl.String).str.pad_start(5, "0"),
            "aisle_id": product_aisle,
            "department_id": product_dept[1:],
        }
    ).with_columns(product_name=pl.lit("product ") + pl.col("product_name"))
    aisle_id = np.arange(1, N_AISLES + 1)
    aisles = pl.DataFrame({"aisle_id": aisle_id, "aisle": [f"aisle {a:03d}" for a in aisle_id]})
    departments = pl.DataFrame(
        {"department_id": np.arange(1, N_DEPARTMENTS + 1), "department": list(DEPARTMENT_NAMES)}
    )
    rank_product = (rng.permutation(N_PRODUCTS) + 1).astype(np.int32)
    weights = (np.arange(1, N_PRODUCTS + 1) + ZIPF_SHIFT) ** -ZIPF_EXPONENT
    cdf = np.cumsum(weights) / weights.sum()
    return (
        products.cast(PRODUCTS.columns),  # type: ignore[arg-type]
        aisles.cast(AISLES.columns),  # type: ignore[arg-type]
        departments.cast(DEPARTMENTS.columns),  # type: ignore[arg-type]
        product_dept,
        rank_product,
        cdf,
    )


def _days_since_prior(
    rng: np.random.Generator, user_of_row: np.ndarray, order_number: np.ndarray, users: int
) -> np.ndarray:
    """round(clip(habit + noise, 0, 30)) per order; NaN (null) for each user's first order."""
    kind = rng.random(users)
    habit = np.where(
        kind < _WEEKLY,
        7.0,
        np.where(kind < _WEEKLY + _MONTHLY, 30.0, rng.uniform(3.0, 25.0, users)),
    )
    sd = np.where(
        kind < _WEEKLY,
        _WEEKLY_SD,
        np.where(kind < _WEEKLY + _MONTHLY, _MONTHLY_SD, 1.0 + 0.25 * habit),
    )
    noise = rng.standard_normal(user_of_row.size) * sd[user_of_row]
    days = np.round(np.clip(habit[user_of_row] + noise, 0.0, 30.0))
    days[order_number == 1] = np.nan
    return days


def _run_kernel(
    seed: np.uint64,
    n_orders: np.ndarray,
    order_start: np.ndarray,
    basket_scale: np.ndarray,
    days: np.ndarray,
    product_dept: np.ndarray,
    cdf: np.ndarray,
    rank_product: np.ndarray,
    *,
    threads: int | None,
) -> list[np.ndarray]:
    """Run the basket kernel over user chunks on a thread pool; concatenate in user order."""
    users = n_orders.size
    threads = threads or numba.get_num_threads() or os.cpu_count() or 1
    # Enough chunks to balance heavy users across threads, few enough to keep scratch small.
    n_chunks = max(1, min(users // 512, 8 * threads)) if users >= 512 else 1
    bounds = np.linspace(0, users, n_chunks + 1).astype(np.int64)
    offsets = np.array(DEPARTMENT_OFFSETS, np.float64)
    dept_offset = np.concatenate([[0.0], offsets])  # index by department id
    coef = PLANTED.as_array()
    n_orders32 = n_orders.astype(np.int32)

    def run(i: int) -> tuple[np.ndarray, ...]:
        lo, hi = int(bounds[i]), int(bounds[i + 1])
        capacity = int(n_orders[lo:hi].sum() * 11)
        return _simulate_users(
            lo, hi, seed, n_orders32, order_start, basket_scale, days, product_dept,
            dept_offset, cdf, rank_product, coef, capacity,
        )  # fmt: skip

    if threads == 1 or n_chunks == 1:
        results = [run(i) for i in range(n_chunks)]
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            results = list(pool.map(run, range(n_chunks)))
    columns = [np.concatenate([r[c] for r in results]) for c in range(len(results[0]))]
    del results
    return columns


def _lines(
    order_id: np.ndarray,
    row: np.ndarray,
    product: np.ndarray,
    cart: np.ndarray,
    reordered: np.ndarray,
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "order_id": order_id[row],
            "product_id": product.astype(np.int64),
            "add_to_cart_order": cart.astype(np.int32),
            "reordered": reordered,
        }
    )
