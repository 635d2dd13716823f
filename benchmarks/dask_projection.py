"""Weak-scaling *projection* (a model, not a measurement) of a `--cluster` run.

Anchored on measurements, each named in the table's notes:

- the single-process full-scale stage times on the 2-core machine
  (`benchmarks/full_scale_2core_5fold.jsonl`: validate + features, item and None
  models, baskets + evaluate, report), as core-seconds of work at 1× Instacart;
- the streaming sharding throughput on the client (`basketcast shard`, measured
  on 20,000 users: prior lines per second of wall time);
- the per-depth statistics reduce (scheduler task stream of a cluster run).

Model, for W workers of one core each at X× Instacart (206,209 users = 1×):

- shard: serial on the client, ∝ data: lines / measured throughput;
- statistics + features, scoring (baskets + per-order F1): work × X / W;
- reduce: measured seconds per reduce × depths × shards / measured shards (4 shards per worker);
- models: work × X / W, plus an ASSUMED 2 ms per all-reduce × ⌈log2 W⌉, one
  all-reduce per tree level per round (depth 8, 1,000 rounds at most, 5 folds, 2 models);
- client: the report (constant) and the F1 bootstrap (∝ orders).

    python benchmarks/dask_projection.py
"""

from __future__ import annotations

import json
import math
from pathlib import Path

HERE = Path(__file__).parent
INSTACART_USERS = 206_209
PRIOR_LINES_1X = 31_752_369
# Measured: `basketcast shard` of 20,000 synthetic users (3,068,451 prior lines) into 16
# shards took 14.1 s wall, 5.5 s CPU, peak RSS 323 MiB on the shared 2-core machine.
SHARD_LINES_PER_S = 3_068_451 / 14.1
REDUCE_S = 0.061  # measured per depth with 4 shards (300-user test run, task stream)
REDUCE_SHARDS = 4
ALLREDUCE_S = 0.002  # ASSUMED latency of one all-reduce between machines (not measured)
ROUND_LEVELS = 8 * 1000 * 5 * 2  # depth × max rounds × folds × models (upper bound)


def _single_core_seconds() -> dict[str, float]:
    record = json.loads((HERE / "full_scale_2core_5fold.jsonl").read_text().splitlines()[0])
    stage = {s["name"]: s["seconds"] for s in record["stages"]}
    cores = record["cpu_count"]
    return {
        "features": (stage["validate"] + stage["features"]) * cores,
        "models": (stage["item model"] + stage["none model"]) * cores,
        "scoring": (stage["baskets"] + stage["evaluate"]) * cores,
        "report": stage["report"],
    }


def project(factor: float, workers: int, work: dict[str, float]) -> dict[str, float]:
    shards = 4 * workers
    levels = math.ceil(math.log2(workers)) if workers > 1 else 0
    return {
        "shard": PRIOR_LINES_1X * factor / SHARD_LINES_PER_S,
        "features": work["features"] * factor / workers + REDUCE_S * 3 * shards / REDUCE_SHARDS,
        "models": work["models"] * factor / workers + ROUND_LEVELS * ALLREDUCE_S * levels,
        "scoring": work["scoring"] * factor / workers,
        "client": work["report"] + 0.5 * factor,
    }


def main() -> None:
    work = _single_core_seconds()
    print("PROJECTED (a model anchored on measurements; see the module docstring), minutes")
    print(
        "| data | workers | shard (client) | statistics + features | models | scoring | client | total |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for factor in (1, 10, 100):
        for workers in (1, 4, 16, 64):
            parts = project(factor, workers, work)
            cells = " | ".join(f"{v / 60:.1f}" for v in parts.values())
            print(f"| {factor}× | {workers} | {cells} | {sum(parts.values()) / 60:.1f} |")


if __name__ == "__main__":
    main()
