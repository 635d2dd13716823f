"""How long amlwatch serve's WAL grows under commits back to back, and how many forced restarts.

Drives the real `LoopCommitter` and `StateStore` (as `tests/amlwatch/serve/test_checkpoint.py`
does: 500 commits, a round every 16, a 600-frame limit) `--repeats` times and prints, per run,
the WAL file's largest length in frames, the slowest checkpoint round and the writer's
RESTARTs. Run it alone, and again beside a CPU load (`yes > /dev/null &` twice) to see rounds
slowed by the contention.

    python benchmarks/aml_wal_bound.py --repeats 8
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.amlwatch.serve.test_checkpoint import _FRAME, commit_back_to_back, new_store

from amlwatch.serve.commit import LoopCommitter


def one_run(folder: Path, commits: int, every: int, limit: int) -> tuple[int, float, int]:
    path = folder / "state.sqlite3"
    store = new_store(path)
    rounds: list[tuple[float, bool]] = []
    store.background_checkpoints(
        every=every, limit=limit, on_checkpoint=lambda s, _f, _d, forced: rounds.append((s, forced))
    )
    largest = commit_back_to_back(store, LoopCommitter, commits)
    store.close()
    slowest = max(s for s, forced in rounds if not forced)
    return (largest - 32) // _FRAME, slowest, sum(forced for _, forced in rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--commits", type=int, default=500)
    parser.add_argument("--every", type=int, default=16)
    parser.add_argument("--limit", type=int, default=600)
    args = parser.parse_args()
    print("run  largest WAL (frames)  slowest round (ms)  writer RESTARTs")
    for run in range(args.repeats):
        with tempfile.TemporaryDirectory() as folder:
            frames, slowest, forced = one_run(Path(folder), args.commits, args.every, args.limit)
        print(f"{run:>3}  {frames:>20}  {1000 * slowest:>18.1f}  {forced:>15}", flush=True)


if __name__ == "__main__":
    main()
