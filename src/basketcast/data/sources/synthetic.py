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

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numba
import numpy as np
import polars as pl

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
from basketcast.data.sources._synthetic_kernel import MAX_ORDERS, _simulate_users
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
