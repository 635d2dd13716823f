"""Weak-scaling *projection* (not a measurement) from one measured cluster run.

Reads a record of `benchmarks/dask_scaleout.py` and projects the wall time of
a run for 1, 4, 16 and 64 workers at 1×, 10× and 100× Instacart (206,209 users
= 1×), from the measured costs:

- shard: the client streams the input once, serially: time ∝ data, not workers;
- statistics (map), features (transform), baskets (score): the measured total
  task compute seconds (scheduler task stream) ∝ data, divided over the workers;
- statistics (reduce): measured per reduce, ∝ number of shards (4 per worker);
- item + None model: the measured training wall time × data / workers, plus an
  *assumed* (not measured) 2 ms per all-reduce × log2(workers), one all-reduce
  per tree level per round (max_depth × rounds);
- evaluate and report on the client: measured, ∝ data (serial).

    python benchmarks/dask_projection.py benchmarks/dask_scaleout_2core.jsonl
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

INSTACART_USERS = 206_209
ALLREDUCE_S = 0.002  # assumed latency of one all-reduce between machines (not measured)


def project(record: dict, *, users: int, workers: int, rounds: int, depth: int) -> dict[str, float]:
    run = record["cluster_run"]
    scale = INSTACART_USERS / record["users"] * users / INSTACART_USERS
    stages = {s["name"]: s["seconds"] for s in run["stages"]}
    tasks = run["cluster"]["tasks"]
    shards_measured = record["shards"]

    def compute(kind: str) -> float:
        return tasks.get(kind, {}).get("total_s", 0.0)

    train_measured = stages.get("item model", 0.0) + stages.get("none model", 0.0)
    measured_workers = record["workers"]
    allreduce = rounds * depth * ALLREDUCE_S * max(math.log2(workers), 0) * 2  # item + None
    return {
        "shard": stages["shard"] * scale,
        "statistics": compute("statistics-map") * scale / workers
        + compute("statistics-reduce") * (4 * workers) / shards_measured,
        "features": compute("features-transform") * scale / workers,
        "models": train_measured * scale * measured_workers / workers + allreduce,
        "baskets": compute("baskets-score") * scale / workers,
        "client": (stages.get("evaluate", 0.0) + stages.get("report", 0.0)) * scale,
    }


def main(path: str) -> None:
    record = json.loads(Path(path).read_text().strip().splitlines()[-1])
    record.setdefault("users", 20_000)
    rounds = record.get("rounds", 200)
    print(f"PROJECTED from one run of {record['users']:,} users on {record['workers']} workers")
    print(
        "| data | workers | shard | statistics | features | models | baskets | client | total (min) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for factor in (1, 10, 100):
        for workers in (1, 4, 16, 64):
            parts = project(
                record, users=factor * INSTACART_USERS, workers=workers, rounds=rounds, depth=8
            )
            total = sum(parts.values()) / 60
            cells = " | ".join(f"{parts[k] / 60:.1f}" for k in parts)
            print(f"| {factor}× | {workers} | {cells} | {total:.1f} |")


if __name__ == "__main__":
    main(sys.argv[1])
