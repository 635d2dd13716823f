"""What the run-folder integrity of #18 costs: a whole `basketcast run`, this tree vs another.

Runs `basketcast run` from scratch (fresh run folder) with this checkout's
code and with another source tree (e.g. `git archive main` before the
change), alternating, `--repeats` times each, and reports the best CPU
seconds (user + sys of the child process) and wall seconds of each. Also
times sha256 over the files the integrity layer hashes in this tree's run
(cache entries and published outputs), the bulk of the added work.

    git archive <commit> src | tar -x -C /tmp/base
    python benchmarks/integrity_cost.py --users 51552 --work /tmp/integrity \
        --base-src /tmp/base/src --repeats 3

Hold `flock /work/heavy.lock` around it on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

CONFIG = """threads = 1
[features]
history_targets = 0
[model]
train_folds = [0]
device = "cpu"
"""


def _run(src: Path | None, data: Path, out: Path, config: Path) -> tuple[float, float]:
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    code = "import sys; from basketcast.cli import app; sys.argv[0] = 'basketcast'; app()"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", code, "run", str(data), "--out", str(out), "--config", str(config)],
        check=True, env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def _hash_cost(run: Path) -> dict[str, float]:
    from basketcast.runfolder import file_digest

    files = [p for p in (run / "cache").rglob("*") if p.is_file()]
    files += [p for p in (run / ".outputs").rglob("*") if p.is_file() and not p.is_symlink()]
    start = time.process_time()
    for path in files:
        file_digest(path)
    return {
        "hashed_mb": sum(p.stat().st_size for p in files) / 2**20,
        "sha256_cpu_s": time.process_time() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=51552)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--base-src", type=Path, required=True, help="the other tree's src/")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    data = args.work / "data"
    if not (data / "orders.parquet").exists():
        subprocess.run([sys.executable, "-m", "basketcast.cli", "synth", "--users", str(args.users),
                        "--seed", "0", "--out", str(data), "--format", "parquet"], check=True)  # fmt: skip
    config = args.work / "config.toml"
    config.write_text(CONFIG)
    results: dict[str, list[tuple[float, float]]] = {"this tree": [], "base": []}
    for _ in range(args.repeats):
        results["base"].append(_run(args.base_src, data, args.work / "run_base", config))
        results["this tree"].append(_run(None, data, args.work / "run_this", config))
        print(json.dumps({k: v[-1] for k, v in results.items()}), flush=True)
    best = {k: (min(c for c, _ in v), min(w for _, w in v)) for k, v in results.items()}
    summary = {
        "users": args.users,
        "runs": results,
        "best_cpu_s": {k: round(v[0], 1) for k, v in best.items()},
        "best_wall_s": {k: round(v[1], 1) for k, v in best.items()},
        "cpu_overhead_pct": round(100 * (best["this tree"][0] / best["base"][0] - 1), 2),
        **_hash_cost(args.work / "run_this"),
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
