"""Load test of `basketcast serve`: open-loop GETs and POSTs over loopback, bounded in count and time.

Starts `basketcast serve RUN --data DATA` on 127.0.0.1 (a free port, a fresh
order database), waits until it answers, then sends requests on a fixed
schedule (open loop: a slow answer does not delay the next request, so
queueing shows up in the latencies):

- GET next-basket at --get-rate per second, for users drawn from a pool of
  --pool users (all different), each with a random day, hour and gap;
- POST an order at --post-rate per second for a random pool user (3-12
  catalogue products, a new order id); --follow of the POSTed users get a GET
  0.5 s after their 201 (part of the GET rate), which must rebuild their rows.

Every request counts; any non-2xx answer or transport error is an error.
Latency is measured from a request's scheduled send time to its complete answer
(at most --connections are in flight; waiting for one counts as latency).
The server's RSS is sampled from /proc every 0.5 s. Prints a table and appends
one JSON line to --results.

    flock /work/heavy.lock python benchmarks/serve_load.py --run RUN --data DATA \\
        --duration 60 --results benchmarks/serve_load.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from basketcast._entry import ALLOCATOR_VARIABLE, prepare_allocator
from basketcast.client import AsyncBasketClient, ServiceError

THREADS = {k: "1" for k in ("OMP_NUM_THREADS", "POLARS_MAX_THREADS", "NUMBA_NUM_THREADS")}
API_KEY = "load-test-key-0123456789"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident set of a process, MiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def server_allocator() -> str | None:
    """The allocator setting `basketcast serve` starts with in this environment."""
    env = dict(os.environ)
    prepare_allocator(["serve"], env)
    return env.get(ALLOCATOR_VARIABLE)


def start_server(
    run: Path, data: Path, db: Path, log: Path
) -> tuple[subprocess.Popen[bytes], str, float]:
    port = _free_port()
    env = {**os.environ, **THREADS, "BASKETCAST_API_KEY": API_KEY}
    command = [sys.executable, "-c", "from basketcast._entry import main; main()",
               "serve", str(run), "--data", str(data), "--port", str(port), "--db", str(db),
               "--log-level", "info"]  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    import httpx

    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server exited {process.returncode}; see {log}")
        try:
            if httpx.get(f"{url}/v1/health", timeout=2).status_code == 200:
                return process, url, time.perf_counter() - started
        except httpx.TransportError:
            time.sleep(0.5)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return platform.processor()
    names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
             if line.startswith("model name")]  # fmt: skip
    return names[0] if names else platform.processor()


def _versions() -> dict[str, str]:
    """The packages a request passes through, so that figures of two days can be compared."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("python", "numpy", "polars", "xgboost-cpu", "xgboost", "numba", "fastapi",
                 "starlette", "uvicorn", "uvloop", "httptools", "httpx", "httpcore", "pydantic"):  # fmt: skip
        try:
            found[name] = platform.python_version() if name == "python" else version(name)
        except PackageNotFoundError:
            continue
    return found


def server_side(metrics: str) -> dict[str, dict[str, float | int]]:
    """Per route: requests and the server's own p50/p99 (upper bucket edge) from /metrics."""
    buckets: dict[str, list[tuple[float, float]]] = {}
    for line in metrics.splitlines():
        if not line.startswith("basketcast_request_seconds_bucket{"):
            continue
        labels, value = line.rsplit(" ", 1)
        parts = dict(kv.split("=", 1) for kv in labels[labels.index("{") + 1 : -1].split(","))
        route = f"{parts['method'].strip(chr(34))} {parts['route'].strip(chr(34))}"
        edge = parts["le"].strip('"')
        buckets.setdefault(route, []).append((float(edge), float(value)))
    out: dict[str, dict[str, float | int]] = {}
    for route, rows in buckets.items():
        rows.sort()
        total = rows[-1][1]
        if total == 0:
            continue

        def quantile(
            q: float, rows: list[tuple[float, float]] = rows, total: float = total
        ) -> float:
            return next(edge for edge, count in rows if count >= q * total) * 1000

        out[route] = {"requests": int(total), "p50_ms_at_most": quantile(0.5),
                      "p99_ms_at_most": quantile(0.99)}  # fmt: skip
    return out


def _run_loop(main: Any) -> Any:
    """uvloop where installed (the `serve` extra has it): the load generator's own cost is smaller."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None}
    arr = np.asarray(values) * 1000
    return {
        "p50_ms": round(float(np.percentile(arr, 50)), 2),
        "p90_ms": round(float(np.percentile(arr, 90)), 2),
        "p99_ms": round(float(np.percentile(arr, 99)), 2),
        "max_ms": round(float(arr.max()), 2),
    }


async def load(
    url: str,
    pid: int,
    args: argparse.Namespace,
    pool: np.ndarray,
    products: np.ndarray,
    first_order: int,
) -> dict[str, Any]:
    rng = np.random.default_rng(args.seed)
    latencies: dict[str, list[float]] = {"get": [], "get_after_post": [], "post": [], "warmup": []}
    timeline: list[tuple[str, float, float]] = []  # (kind, sent at, latency), for --timeline
    errors: dict[str, int] = {k: 0 for k in latencies}
    examples: list[str] = []
    rss: list[tuple[float, float]] = []
    pending: set[asyncio.Task[None]] = set()
    next_order = iter(range(first_order, first_order + 10**9))

    # --clients clients, each with its share of --connections: httpx's pool matches every
    # queued request against every connection (quadratic), which made one client with 64
    # connections the bottleneck of the whole test (80 % of a core in a profile).
    per_client = max(args.connections // args.clients, 1)
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                AsyncBasketClient(url, api_key=API_KEY, max_connections=per_client)
            )
            for _ in range(args.clients)
        ]
        turn = itertools.cycle(clients)
        # At most --connections requests in flight; latency counts from the scheduled send
        # time, so waiting here is not hidden.
        gate = asyncio.Semaphore(per_client * args.clients)

        async def timed(kind: str, call: Any, scheduled: float | None = None) -> Any:
            started = time.perf_counter() if scheduled is None else scheduled
            if started < measured_from:  # the --warmup seconds: answered and checked, not timed
                kind = "warmup"
            try:
                async with gate:
                    result = await call
            except (ServiceError, Exception) as exc:  # every failure counts, of any kind
                errors[kind] += 1
                if len(examples) < 5:
                    examples.append(f"{kind}: {type(exc).__name__}: {exc}")
                return None
            latencies[kind].append(time.perf_counter() - started)
            timeline.append((kind, started, latencies[kind][-1]))
            return result

        def context() -> dict[str, Any]:
            return {"order_dow": int(rng.integers(7)), "order_hour_of_day": int(rng.integers(24)),
                    "days_since_prior_order": float(rng.integers(31))}  # fmt: skip

        async def get(user: int, kind: str = "get", scheduled: float | None = None) -> None:
            await timed(kind, next(turn).next_basket(user, **context()), scheduled)

        async def post(user: int, follow: bool, scheduled: float) -> None:
            basket = rng.choice(products, size=int(rng.integers(3, 13)), replace=False)
            created = await timed("post", next(turn).post_order(
                user, order_id=next(next_order), product_ids=[int(p) for p in basket],
                order_dow=int(rng.integers(7)), order_hour_of_day=int(rng.integers(24)),
                days_since_prior_order=float(rng.integers(1, 31))), scheduled)  # fmt: skip
            if created is not None and follow:
                await asyncio.sleep(0.5)
                await get(user, "get_after_post")

        def spawn(job: Any) -> None:
            task = asyncio.create_task(job)
            pending.add(task)
            task.add_done_callback(pending.discard)

        async def sample_rss() -> None:
            while True:
                rss.append(_rss_mb(pid))
                await asyncio.sleep(0.5)

        sampler = asyncio.create_task(sample_rss())
        follow_rate = args.post_rate * args.follow
        plain_rate = args.get_rate - follow_rate
        span = args.warmup + args.duration
        events = sorted(
            [(i / plain_rate, "get") for i in range(int(plain_rate * span))]
            + [(i / args.post_rate, "post") for i in range(int(args.post_rate * span))]
        )
        order = rng.permutation(pool.size)
        cursor = 0
        start = time.perf_counter()
        measured_from = start + args.warmup
        wall_of_measured_from = time.time() + args.warmup  # to line the timeline up with other logs
        lag = []
        for at, kind in events:
            delay = start + at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            lag.append(time.perf_counter() - start - at)
            if kind == "get":
                spawn(get(int(pool[order[cursor % pool.size]]), scheduled=start + at))
                cursor += 1
            else:
                spawn(post(int(rng.choice(pool)), bool(rng.random() < args.follow), start + at))
        sent_for = time.perf_counter() - start
        _done, late = await asyncio.wait(pending, timeout=args.drain) if pending else (set(), set())
        for task in late:
            task.cancel()
        sampler.cancel()
        elapsed = time.perf_counter() - start
    distinct_users = int(min(cursor, pool.size))
    if args.timeline is not None:  # one line per answered request: when it was due, how long
        with args.timeline.open("w") as fh:
            fh.write("kind,sent_s,latency_ms,sent_unix\n")
            for kind, sent, took in sorted(timeline, key=lambda t: t[1]):
                at = sent - measured_from
                fh.write(f"{kind},{at:.4f},{took * 1000:.2f},{wall_of_measured_from + at:.4f}\n")
    return {
        "sent_seconds": round(sent_for, 2),
        "elapsed_seconds": round(elapsed, 2),
        "unfinished": len(late),
        "schedule_lag_p99_ms": round(float(np.percentile(np.asarray(lag) * 1000, 99)), 2),
        "distinct_get_users": distinct_users,
        "requests": {k: len(v) + errors[k] for k, v in latencies.items()},
        "errors": errors,
        "error_examples": examples,
        "latency": {k: percentiles(v) for k, v in latencies.items()},
        "latency_all_gets": percentiles(latencies["get"] + latencies["get_after_post"]),
        "server_rss_mb": {
            "during_max": round(max(r for r, _ in rss), 1),
            "peak_hwm": round(max(h for _, h in rss), 1),
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="a finished run folder")
    parser.add_argument("--data", type=Path, required=True, help="the run's data folder")
    parser.add_argument("--get-rate", type=float, default=200.0)
    parser.add_argument("--post-rate", type=float, default=20.0)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of sending (bounded)")
    parser.add_argument(
        "--drain", type=float, default=30.0, help="seconds to wait for answers after"
    )
    parser.add_argument(
        "--pool", type=int, default=12_000, help="distinct users to GET (>= 10,000)"
    )
    parser.add_argument(
        "--follow", type=float, default=0.5, help="share of POSTs followed by a GET"
    )
    parser.add_argument("--connections", type=int, default=64, help="requests in flight, at most")
    parser.add_argument("--clients", type=int, default=8, help="clients sharing --connections")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--warmup",
        type=float,
        default=5.0,
        help="seconds of the same load before the timed --duration (connections opened, "
        "answered and checked for errors, not in the latencies)",
    )
    parser.add_argument("--results", type=Path, default=None)
    parser.add_argument(
        "--timeline", type=Path, default=None, help="CSV of every answered request's latency"
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=0.0,
        help="seconds to wait after the server is up, before any load",
    )
    parser.add_argument(
        "--server-log", type=Path, default=None, help="keep a copy of the server's log here"
    )
    args = parser.parse_args(argv)
    span = args.warmup + args.duration
    if args.warmup < 0 or args.settle < 0 or span > 600 or args.get_rate * span > 200_000:
        parser.error("--warmup and --settle are >= 0; bounded: at most 600 s and 200,000 GETs")

    orders = pl.read_parquet(args.data / "orders.parquet", columns=["order_id", "user_id"])
    users = orders.get_column("user_id").unique().sort().to_numpy()
    pool = np.random.default_rng(args.seed).choice(
        users, size=min(args.pool, users.size), replace=False
    )
    products = (
        pl.read_parquet(args.data / "products.parquet", columns=["product_id"])
        .get_column("product_id")
        .to_numpy()
    )
    first_order = int(orders.get_column("order_id").max()) + 1  # type: ignore[arg-type]
    del orders

    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
        log = Path(tmp) / "server.log"
        process, url, startup = start_server(args.run, args.data, Path(tmp) / "orders.sqlite3", log)
        try:
            settle_rss = []
            for _ in range(int(args.settle * 2)):  # memory the start-up freed is returned meanwhile
                time.sleep(0.5)
                settle_rss.append(round(_rss_mb(process.pid)[0]))
            rss_idle = _rss_mb(process.pid)
            load_avg = os.getloadavg()
            cpu_before = _cpu_seconds(process.pid)
            client_before = time.process_time()  # the load generator shares the cores
            result = _run_loop(load(url, process.pid, args, pool, products, first_order))
            server_cpu = _cpu_seconds(process.pid) - cpu_before
            client_cpu = time.process_time() - client_before
            metrics = __import__("httpx").get(f"{url}/metrics", timeout=10).text
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
            if args.server_log is not None:  # one JSON line per request, with its server-side ms
                shutil.copyfile(log, args.server_log)
    batches = [line for line in metrics.splitlines() if line.startswith("basketcast_score_batch")]
    record = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in load_avg],
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
        "run": str(args.run),
        "users": int(users.size),
        "pool": int(pool.size),
        "get_rate": args.get_rate,
        "post_rate": args.post_rate,
        "duration": args.duration,
        "warmup": args.warmup,
        "follow": args.follow,
        "clients": args.clients,
        "connections": args.connections,
        "startup_seconds": round(startup, 1),
        "settle_seconds": args.settle,
        "settle_rss_mb": settle_rss,
        # The server's allocator setting (Polars puts its own first; later pairs win).
        "jemalloc_conf": server_allocator(),
        "server_rss_mb_idle": round(rss_idle[0], 1),
        **result,
        "server_cpu_seconds": round(server_cpu, 1),
        "server_cpu_ms_per_request": round(
            1000 * server_cpu / max(sum(result["requests"].values()), 1), 2
        ),
        "client_cpu_ms_per_request": round(
            1000 * client_cpu / max(sum(result["requests"].values()), 1), 2
        ),
        "cpu_model": _cpu_model(),
        "versions": _versions(),
        "server_side_latency": server_side(metrics),
        "batch_metrics": batches,
    }
    print(json.dumps(record, indent=2))
    if args.results:
        with args.results.open("a") as fh:
            fh.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
