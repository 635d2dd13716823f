"""Memory scale-out on a Dask LocalCluster: the peak RSS of every process of a run.

Runs `basketcast run DATA --cluster local:N` (and, with --single, the same run
in one process) as child processes and samples the peak resident set
(`VmHWM`, the kernel's lifetime peak) of every process in each run's tree:
the CLI (client + scheduler), the nannies and the workers. Also records the
run's stage times, its per-task compute seconds (from the scheduler's task
stream, `metrics.json` → cluster.tasks) and test F1.

    flock /work/heavy.lock python benchmarks/dask_scaleout.py \\
        --data /path/synth-20k --workers 4 --memory-limit 3GiB --shards 16 \\
        --config bench.toml --single --json-out benchmarks/dask_scaleout_2core.jsonl

`benchmarks/dask_projection.py` turns the recorded costs into the weak-scaling table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any


def _tree(root: int) -> list[int]:
    """`root` and every descendant process id (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                parent = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def _peak_kib(pid: int) -> tuple[str, int] | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            fields = dict(line.split(":", 1) for line in fh if ":" in line)
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")[:160]
        return cmd, int(fields["VmHWM"].split()[0])
    except (OSError, KeyError, ValueError):
        return None


def measure(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run `command`; the peak RSS (GiB) of each process of its tree, sampled every 0.2 s."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    peaks: dict[int, tuple[str, int]] = {}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for pid in _tree(proc.pid):
                got = _peak_kib(pid)
                if got is not None and got[1] >= peaks.get(pid, ("", 0))[1]:
                    peaks[pid] = got
            stop.wait(0.2)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    output, _ = proc.communicate()
    stop.set()
    thread.join()
    processes = sorted(
        ({"pid": p, "cmd": c, "peak_gib": round(k / 2**20, 3)} for p, (c, k) in peaks.items()),
        key=lambda r: -r["peak_gib"],
    )
    return {
        "returncode": proc.returncode,
        "wall_s": round(time.perf_counter() - start, 1),
        "processes": processes,
        "max_process_peak_gib": max((r["peak_gib"] for r in processes), default=0.0),
        "output_tail": output.decode(errors="replace")[-3000:],
    }


def _run(args: argparse.Namespace, out: Path, cluster: str | None) -> dict[str, Any]:
    cli = "from basketcast.cli import app; app()"
    command = [sys.executable, "-c", cli, "run", str(args.data), "--out", str(out)]
    if args.config:
        command += ["--config", str(args.config)]
    env = dict(os.environ)
    if cluster:
        command += ["--cluster", cluster]
    result = measure(command, env)
    metrics_path = out / "metrics.json"
    if metrics_path.exists():
        metrics = json.loads(metrics_path.read_text())
        result["stages"] = metrics["stages"]
        result["f1"] = [
            {k: r[k] for k in ("method", "orders", "n", "mean_f1", "ci_low", "ci_high")}
            for r in metrics["f1_table"]
            if r["method"].startswith("basketcast")
        ]
        result["item_auc"] = metrics["item_model"]["oof_auc"]
        result["cluster"] = metrics.get("cluster")
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=Path("runs/dask_scaleout"))
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--memory-limit", default="3GiB")
    parser.add_argument("--shards", type=int, default=16)
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--single", action="store_true", help="also run in one process")
    parser.add_argument("--json-out", type=Path, default=None)
    parser.add_argument(
        "--users", type=int, required=True, help="users in DATA (for the projection)"
    )
    parser.add_argument("--rounds", type=int, default=200, help="num_boost_round of --config")
    args = parser.parse_args(argv)

    config = args.work / "cluster.toml"
    args.work.mkdir(parents=True, exist_ok=True)
    base = args.config.read_text() if args.config else ""
    config.write_text(
        base + f'\n[cluster]\nshards = {args.shards}\nmemory_limit = "{args.memory_limit}"\n'
    )
    record: dict[str, Any] = {
        "data": str(args.data),
        "users": args.users,
        "rounds": args.rounds,
        "workers": args.workers,
        "memory_limit": args.memory_limit,
        "shards": args.shards,
        "cores": os.cpu_count(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    original = args.config
    args.config = config
    record["cluster_run"] = _run(args, args.work / "cluster", f"local:{args.workers}")
    if args.single:
        args.config = original
        record["single_run"] = _run(args, args.work / "single", None)
    text = json.dumps(record, indent=1)
    print(text)
    if args.json_out:
        with args.json_out.open("a") as fh:
            fh.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
