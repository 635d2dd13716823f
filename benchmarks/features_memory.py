"""Time and peak memory of `basketcast run`'s features stage alone, at any scale and configuration.

    python benchmarks/features_memory.py --data DATA --set features.history_targets=2 \
        --results benchmarks/features_memory_2core.jsonl

Loads and validates DATA (`basketcast.data.load.load_dataset`), then runs the
run's own features stage (`basketcast.cached_stages.cached_features`: every
depth built, written to the stage's cache and read back) into a fresh run
folder under a temporary directory. The stage's peak RSS is sampled every
50 ms as `basketcast run` samples it (`StageMeter`); the process's VmHWM
(validation included) and CPU seconds come from the kernel. One process per
call: run it once per configuration so that no peak carries over.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

from basketcast.device import set_thread_budget

# As the CLI does, before Polars loads: its thread pool is sized once, at import.
set_thread_budget()

from basketcast._meter import StageMeter  # noqa: E402
from basketcast.cached_stages import cached_features  # noqa: E402
from basketcast.config import load_config  # noqa: E402
from basketcast.data.load import load_dataset  # noqa: E402
from basketcast.runfolder import open_run_folder  # noqa: E402


def _vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _override(text: str) -> tuple[str, Any]:
    key, _, value = text.partition("=")
    return key, tomllib.loads(f"v = {value}")["v"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="a data folder")
    parser.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
        help="configuration override (TOML value), repeatable",
    )  # fmt: skip
    parser.add_argument("--results", type=Path, default=None, help="append one JSON line here")
    args = parser.parse_args(argv)
    config = load_config(**dict(_override(s) for s in args.set))

    started = time.perf_counter()
    dataset = load_dataset(args.data)
    loaded = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="features-memory-") as tmp:
        with open_run_folder(Path(tmp) / "run") as folder, StageMeter("features") as meter:
            frames, _ = cached_features(dataset, folder, "benchmark", config, lambda s, t: None)
        assert meter.record is not None
        usage = resource.getrusage(resource.RUSAGE_SELF)
        record = {
            "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "host": platform.node(),
            "cpus": os.cpu_count(),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            "commit": subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
            ).stdout.strip(),
            "data": str(args.data),
            "overrides": args.set,
            "history_targets": config.features.history_targets,
            "load_and_validate_seconds": round(loaded - started, 1),
            "features_seconds": meter.record.seconds,
            "features_peak_rss_gib": round(meter.record.peak_rss_mb / 1024, 2),
            "process_vm_hwm_gib": round(_vm_hwm_mb() / 1024, 2),
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
            "item_rows": frames.items.height,
            "item_columns": frames.items.width,
            "items_in_memory_gib": round(frames.items.estimated_size() / 2**30, 2),
        }
    print(json.dumps(record, indent=2))
    if args.results is not None:
        with args.results.open("a") as fh:
            fh.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    sys.exit(main())
