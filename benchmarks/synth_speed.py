"""Time and peak memory of the synthetic generator (`basketcast.data.sources.synthetic`).

Usage::

    python benchmarks/synth_speed.py --users 206209 --seed 0 [--write DIR --format parquet]

Prints one line per phase: the Numba compile/cache load (a 100-user warm-up),
generation at the asked scale, and optionally writing the folder. Peak RSS is
the process high-water mark (`resource.getrusage`), so it covers every phase.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

from basketcast.device import set_thread_budget

set_thread_budget()  # before Polars is imported

import polars as pl  # noqa: E402

from basketcast.data.sources.synthetic import synthetic, write_synthetic  # noqa: E402


def _peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=206_209)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", type=Path, default=None, help="also write the folder here")
    parser.add_argument("--format", choices=["csv", "parquet"], default="parquet")
    args = parser.parse_args()

    start = time.perf_counter()
    synthetic(100, seed=args.seed)
    print(f"warm-up (Numba compile or cache load): {time.perf_counter() - start:6.1f} s")

    start = time.perf_counter()
    data = synthetic(args.users, seed=args.seed)
    seconds = time.perf_counter() - start
    orders = data.tables["orders"]
    prior = data.tables["order_products__prior"]
    print(
        f"generate {args.users:,} users: {seconds:6.1f} s, peak RSS {_peak_rss_gib():.2f} GiB; "
        f"{orders.height:,} orders, {prior.height:,} prior lines, "
        f"{data.tables['order_products__train'].height:,} train lines, "
        f"{data.true_probs.height:,} candidates"
    )
    n_prior = orders.filter(pl.col("eval_set") == "prior").height
    print(
        f"  mean prior basket {prior.height / n_prior:.2f}, "
        f"reordered share {prior.get_column('reordered').mean():.3f}, "
        f"median orders/user {orders.group_by('user_id').len().get_column('len').median():.0f}"
    )
    if args.write is not None:
        start = time.perf_counter()
        write_synthetic(data, args.write, format=args.format)
        print(
            f"write {args.format} to {args.write}: {time.perf_counter() - start:6.1f} s, "
            f"peak RSS {_peak_rss_gib():.2f} GiB"
        )


if __name__ == "__main__":
    main()
