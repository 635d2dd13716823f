"""Speed of the expected-F1 basket selection (``basketcast.basket``).

Run: ``python benchmarks/f1_speed.py`` (add ``--quick`` for a short run).

Everything runs on one core: Polars is given one thread and the Numba kernel
is single-threaded. The kernel is compiled (or loaded from Numba's on-disk
cache) by a warm-up call before any timing, so compile time is excluded.
Each figure is the best of ``--repeats`` runs.

* kernel: the compiled DP over CSR arrays already sorted by order and p;
* select_baskets: the public function end to end, from an unsorted Polars
  frame to submission strings (sort, kernel, strings);
* python: the same DP written as a plain per-order Python loop
  (``basketcast.basket._reference``), timed on a sample of orders.

Times are process CPU seconds by default (``--clock wall`` for elapsed time):
on a machine shared with other jobs, CPU time is the steadier measure of what
one core costs.
"""

from __future__ import annotations

from basketcast.device import set_thread_budget

set_thread_budget(1)  # one core: before Polars is imported

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from basketcast.basket import select_baskets  # noqa: E402
from basketcast.basket._reference import best_basket_python  # noqa: E402
from basketcast.basket.f1 import TIE_TOLERANCE, _select_csr  # noqa: E402


def _probs(rng: np.random.Generator, sizes: np.ndarray) -> pl.DataFrame:
    """Candidates with Beta(0.3, 3) probabilities (mean 0.09, like reorder models), shuffled."""
    total = int(sizes.sum())
    frame = pl.DataFrame(
        {
            "order_id": np.repeat(np.arange(sizes.size, dtype=np.int64), sizes),
            "product_id": rng.integers(1, 50_000, total),
            "p": rng.beta(0.3, 3.0, total),
        }
    )
    return frame.unique(["order_id", "product_id"]).sample(fraction=1.0, shuffle=True, seed=0)


def _csr(probs: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The kernel's input: rows grouped by order (not sorted by p: the kernel does that)."""
    rows = probs.sort("order_id")
    counts = rows.group_by("order_id", maintain_order=True).len()["len"].to_numpy()
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    p = rows["p"].to_numpy().astype(np.float64)
    return p, rows["product_id"].to_numpy(), offsets, np.full(counts.size, np.nan)


_CLOCK = time.process_time


def _best_of(repeats: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        start = _CLOCK()
        fn()
        times.append(_CLOCK() - start)
    return min(times)


def _python_rate(p: np.ndarray, offsets: np.ndarray, budget_s: float) -> float:
    """Orders per second of the per-order Python DP, on as many orders as fit the budget."""
    start = _CLOCK()
    done = 0
    for o in range(offsets.size - 1):
        best_basket_python(p[offsets[o] : offsets[o + 1]].tolist(), tol=TIE_TOLERANCE)
        done += 1
        if _CLOCK() - start > budget_s:
            break
    return done / (_CLOCK() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer orders, one repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="cpu: process CPU time (robust on a shared machine); wall: elapsed time",
    )
    args = parser.parse_args()
    global _CLOCK
    _CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    repeats = 1 if args.quick else args.repeats
    rng = np.random.default_rng(args.seed)

    warm = _probs(rng, np.array([5, 3]))
    start = time.perf_counter()
    select_baskets(warm)  # compile, or load the cached machine code
    _select_csr(*_csr(warm), TIE_TOLERANCE)  # the same for the kernel's own argument types
    print(
        f"# Python {platform.python_version()}, clock: {args.clock}, "
        f"warm-up (compile or cache load, excluded): {time.perf_counter() - start:.2f} s"
    )
    print()
    print(
        "| n per order | orders | kernel orders/s | select_baskets orders/s, rows shuffled "
        "| select_baskets, rows grouped by order | Python DP orders/s | kernel / Python |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n in (16, 32, 64, 128, 256, 512, 1024):
        # about 2.5e8 / n^2 DP cells per size (fewer with --quick), at least 200 orders
        n_orders = max(200, min(100_000, int((3e7 if args.quick else 2.5e8) / n**2)))
        probs = _probs(rng, np.full(n_orders, n))
        p, product, offsets, p_none = _csr(probs)
        n_orders = offsets.size - 1
        args_ = (p, product, offsets, p_none, TIE_TOLERANCE)
        kernel = n_orders / _best_of(repeats, lambda a=args_: _select_csr(*a))  # type: ignore[misc]
        public = n_orders / _best_of(repeats, lambda f=probs: select_baskets(f))  # type: ignore[misc]
        grouped_probs = probs.sort("order_id")
        grouped = n_orders / _best_of(repeats, lambda f=grouped_probs: select_baskets(f))  # type: ignore[misc]
        python = _python_rate(p, offsets, budget_s=1.0 if args.quick else 3.0)
        print(
            f"| {n:,} | {n_orders:,} | {kernel:,.0f} | {public:,.0f} | {grouped:,.0f} | {python:,.1f} "
            f"| {kernel / python:,.0f}x |"
        )

    # 75,000 orders with a skewed candidate count: lognormal, mean ~60, a tail up to 1,000.
    sizes = np.clip(np.round(rng.lognormal(np.log(60) - 0.5, 1.0, 75_000)), 1, 1_000).astype(
        np.int64
    )
    probs = _probs(rng, sizes)
    counts = probs.group_by("order_id").len()["len"]
    p, product, offsets, p_none = _csr(probs)
    kernel_s = _best_of(repeats, lambda: _select_csr(p, product, offsets, p_none, TIE_TOLERANCE))
    public_s = _best_of(repeats, lambda: select_baskets(probs))
    _CLOCK, clock = time.perf_counter, _CLOCK  # and once as elapsed time, for the 30 s bar
    wall_s = _best_of(1, lambda: select_baskets(probs))
    _CLOCK = clock
    print()
    print(
        f"realistic: {counts.len():,} orders, {probs.height:,} candidates "
        f"(mean {counts.mean():.1f}, median {counts.median():.0f}, p99 {counts.quantile(0.99):.0f}, "
        f"max {counts.max()}): kernel {kernel_s:.2f} s, select_baskets {public_s:.2f} s "
        f"({args.clock}), {wall_s:.2f} s elapsed"
    )


if __name__ == "__main__":
    main()
