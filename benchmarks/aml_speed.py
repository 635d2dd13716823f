"""amlwatch speed and memory: the generator and the features at scale (default 5M transactions).

    flock /work/heavy.lock python benchmarks/aml_speed.py synth --transactions 5000000 --out /tmp/aml5m
    flock /work/heavy.lock python benchmarks/aml_speed.py features --out /tmp/aml5m [--no-graph] [--no-flow]
    python benchmarks/aml_speed.py flow --out /tmp/aml1m   # the flow family's two parts, timed apart

Each stage runs in its own process so its peak RSS is its own; prints wall and CPU
seconds and peak RSS (GiB). With the graph family at this size the PageRank/Leiden
snapshots run in one forked worker process (`GraphConfig.snapshot_workers`): its CPU
is included, and its peak RSS is printed separately (pages it shares with the parent
count in both). `synth` writes `world.parquet` + `accounts.parquet` (canonical
columns) for `features` to read, so features time excludes generation.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

for _var in ("POLARS_MAX_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import polars as pl  # noqa: E402


def _rss(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 2**20


def _cpu() -> float:
    """User + system CPU seconds of this process and its finished children (the snapshot worker)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("stage", choices=["synth", "features", "flow"])
    parser.add_argument("--transactions", type=int, default=5_000_000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--out", type=Path, default=Path("/tmp/aml5m"))
    parser.add_argument("--no-graph", action="store_true")
    parser.add_argument("--no-flow", action="store_true", help="leave out the flow family")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.stage == "synth":
        from amlwatch.synth import SynthConfig, generate

        t0 = time.perf_counter()
        world = generate(SynthConfig(n_transactions=args.transactions, days=args.days))
        seconds = time.perf_counter() - t0
        world.transactions.write_parquet(args.out / "world.parquet")
        world.accounts.write_parquet(args.out / "accounts.parquet")
        print(
            f"synth: {world.transactions.height:,} transactions in {seconds:.1f} s, peak RSS {_rss():.2f} GiB"
        )
        return
    from amlwatch.data.load import build_ledger
    from amlwatch.features import build_features

    tx = pl.read_parquet(args.out / "world.parquet").with_row_index("txn_id")
    tx = tx.with_columns(pl.col("txn_id").cast(pl.Int64))
    accounts = pl.read_parquet(args.out / "accounts.parquet").select(
        "bank", "account", "kind", "country", "entity_id"
    )
    ledger = build_ledger(tx, accounts)
    del tx
    if args.stage == "flow":
        _flow_parts(ledger.transactions)
        return
    families = ["transaction", "account", "pair"] + ([] if args.no_graph else ["graph"])
    families += [] if args.no_flow else ["flow"]
    t0, c0 = time.perf_counter(), _cpu()
    frame = build_features(ledger, families=families)
    seconds, cpu = time.perf_counter() - t0, _cpu() - c0
    print(
        f"features ({', '.join(families)}): {frame.height:,} rows x {frame.width} columns in "
        f"{seconds:.1f} s wall, {cpu:.1f} s CPU (both processes), peak RSS {_rss():.2f} GiB "
        f"(snapshot worker: {_rss(resource.RUSAGE_CHILDREN):.2f} GiB, shares pages with it)"
    )


def _flow_parts(tx: pl.DataFrame) -> None:
    """The flow family's kernels one after the other: forwards and cycles, then first contacts."""
    from amlwatch.features.flow import flow_features
    from amlwatch.features.flow_fresh import fresh_features

    for name, part in (("flow_features", flow_features), ("fresh_features", fresh_features)):
        part(tx.head(1000))  # compile (or load Numba's cache) outside the timing
        t0, c0 = time.perf_counter(), _cpu()
        frame = part(tx)
        seconds, cpu = time.perf_counter() - t0, _cpu() - c0
        print(
            f"{name}: {frame.height:,} rows x {frame.width} columns in {seconds:.1f} s wall, "
            f"{cpu:.1f} s CPU, peak RSS so far {_rss():.2f} GiB"
        )


if __name__ == "__main__":
    main()
