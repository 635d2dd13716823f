"""Load test of `amlwatch serve`: open-loop scoring requests over loopback, bounded in count and time.

Builds (or reuses, in --workdir) a synthetic world and an `amlwatch run` on the
first --history share of it (rules + the GAN, so the ONNX path is served),
starts `amlwatch serve RUN` on 127.0.0.1 with a fresh state file warmed from
that history, waits until it answers, then POSTs the rest of the world's
transactions, in time order, at --rate per second (open loop: a slow answer
does not delay the next request's schedule, so queueing shows up in the
latencies). Requests go out in time order, 1/rate apart; with --chain, a
transaction whose account still has an earlier one in flight waits for that
answer first (the service needs each account's transactions in time order; a
reordering in flight is a 409 and counts as an error). Without --chain (the
default) nothing waits: hot accounts (shops, employers) appear in almost every
window of a few transactions, so --chain serialises the stream behind fsyncs.

The client: httpx.AsyncClient (the default), or --client raw, keep-alive
HTTP/1.1 written and read on asyncio streams (what wrk or k6 do) at ~1/5 of
httpx's CPU per request: the load generator shares the 2 cores with the server,
and its own event loop's delay counts in every latency it takes.

Every request counts; any non-200 answer or transport error is an error.
Latency: from a request's scheduled send time to its complete answer (which
comes only after the state change is committed to disk); also from the actual
send (without the --chain wait), and the server's own histogram (ASGI call to
last byte). The server's RSS and CPU time are read from /proc, the client's CPU
from its process time. Just before the load, 300 fdatasyncs of 32 KiB in the
state file's folder measure this disk's sync alone (`disk_fdatasync_32k`).
`--durability` starts the server with that setting (default: the server's
default, `process`; `power` is ``synchronous=FULL``, an fsync per commit).
Prints a JSON record and appends it to --results.

    nice -n 10 flock /work/helper-heavy.lock python benchmarks/aml_serve_load.py \\
        --rate 200 --duration 60 --chain --client raw --results benchmarks/aml_serve_load.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
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

THREADS = {k: "1" for k in ("OMP_NUM_THREADS", "POLARS_MAX_THREADS", "NUMBA_NUM_THREADS",
                            "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}  # fmt: skip
os.environ.update(THREADS)
# A small GAN: the benchmark measures serving, not detection quality.
GAN = {"max_epochs": 2, "epoch_rows": 5_000, "batch_size": 512, "patience": 1}
FIELDS = ("from_bank", "from_account", "to_bank", "to_account", "amount_received",
          "receiving_currency", "amount_paid", "payment_currency", "payment_format")  # fmt: skip


def prepare(workdir: Path, n: int, history: float, seed: int) -> tuple[Path, pl.DataFrame]:
    """The run folder and the stream (the world after the history), built once per workdir."""
    from amlwatch.config import DetectorSpec, RunConfig
    from amlwatch.pipeline import run
    from amlwatch.synth import SynthConfig, World, generate, write_world

    stream_file = workdir / "stream.parquet"
    if (workdir / "run" / "metrics.json").exists() and stream_file.exists():
        warm_state(workdir)
        return workdir / "run", pl.read_parquet(stream_file)
    world = generate(SynthConfig(n_transactions=n, seed=seed))
    tx = world.transactions.with_row_index("_i").sort("timestamp", "_i").drop("_i")
    cut = int(tx.height * history)
    write_world(World(tx.head(cut), world.accounts, world.config), workdir / "history")
    detectors = (DetectorSpec("rules", "rules"), DetectorSpec("gan", "gan", {"gan": GAN}))
    run(workdir / "history", workdir / "run", RunConfig(seed=seed, detectors=detectors))
    tx.slice(cut).write_parquet(stream_file)
    warm_state(workdir)
    return workdir / "run", tx.slice(cut)


def warm_state(workdir: Path) -> Path:
    """A state file warmed from the history, made once; each load run starts from a copy."""
    from amlwatch.serve.service import Service
    from amlwatch.serve.settings import ServeSettings

    state = workdir / "state.sqlite3"
    if not state.exists():
        tmp = workdir / "state.tmp.sqlite3"
        for leftover in workdir.glob("state.tmp.sqlite3*"):
            leftover.unlink()
        Service.start(ServeSettings(workdir / "run", db=tmp)).close()
        tmp.rename(state)
    return state


def served_commit() -> str:
    """The commit of the amlwatch the server imports (PYTHONPATH may point at another tree)."""
    import amlwatch

    def git(*cmd: str) -> str:
        where = str(Path(amlwatch.__file__).parent)
        return subprocess.run(
            ["git", "-C", where, *cmd], capture_output=True, text=True
        ).stdout.strip()

    dirty = git("status", "--porcelain", "--", "../amlwatch", "../servekit")
    return git("rev-parse", "--short", "HEAD") + ("+changes" if dirty else "")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _proc(pid: int) -> dict[str, float]:
    """RSS now and peak (MiB), CPU seconds so far (user + system)."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return {
        "rss_mb": int(fields["VmRSS"].split()[0]) / 1024,
        "hwm_mb": int(fields["VmHWM"].split()[0]) / 1024,
        "cpu_s": (int(stat[11]) + int(stat[12])) / ticks,
    }


# `amlwatch serve` has no switch for the fast path (it is on); off, for the comparison, the
# server is started from the library with the same settings otherwise.
_NO_FAST_PATH = (
    "import sys; from pathlib import Path; from amlwatch.serve.server import run_server; "
    "from amlwatch.serve.settings import ServeSettings; "
    "run_server(ServeSettings(Path(sys.argv[1]), port=int(sys.argv[2]), db=Path(sys.argv[3]), "
    "durability=sys.argv[4], fast_path=False), log_level='warning')"
)


def start_server(
    run: Path, db: Path, log: Path, *, durability: str, fast_path: bool = True
) -> tuple[subprocess.Popen[bytes], str, float]:
    import httpx

    port = _free_port()
    if fast_path:
        command = [sys.executable, "-c", "from amlwatch.cli import app; app(prog_name='amlwatch')",
                   "serve", str(run), "--port", str(port), "--db", str(db), "--log-level", "warning",
                   "--durability", durability]  # fmt: skip
    else:
        command = [sys.executable, "-c", _NO_FAST_PATH, str(run), str(port), str(db), durability]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env={**os.environ, **THREADS}, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server exited {process.returncode}; see {log}")
        try:
            if httpx.get(f"{url}/v1/health", timeout=2).status_code == 200:
                return process, url, time.perf_counter() - started
        except httpx.TransportError:
            time.sleep(0.5)


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


class RawClient:
    """Keep-alive HTTP/1.1 POSTs over asyncio streams, one request per connection at a time.

    What a load tool (wrk, k6) does, at ~1/5 of httpx's CPU per request: on 2 shared
    cores the load generator's own CPU delays the answers it times. It reads the
    status line, the headers and exactly Content-Length bytes of body.
    """

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        self.host, self.port = host, int(port)
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._open: list[asyncio.StreamWriter] = []

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self._idle:
            reader, writer = self._idle.pop()
        else:
            reader, writer = await asyncio.open_connection(self.host, self.port)
            self._open.append(writer)
        try:
            writer.write(
                f"POST {path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n"
                f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
            status = int((await reader.readline()).split(b" ", 2)[1])
            length, close = 0, False
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
            content = await reader.readexactly(length)
        except BaseException:
            writer.close()
            raise
        if close:
            writer.close()
        else:
            self._idle.append((reader, writer))
        return status, content

    async def close(self) -> None:
        for writer in self._open:
            writer.close()


def histogram(metrics: str, name: str, **labels: str) -> dict[str, float]:
    """A Prometheus histogram's cumulative buckets {le: count} from /metrics text."""
    want = [f'{k}="{v}"' for k, v in labels.items()]
    out: dict[str, float] = {}
    for line in metrics.splitlines():
        if line.startswith(name + "_bucket{") and all(w in line for w in want):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            out[le] = float(line.rsplit(" ", 1)[1])
    return out


def _over(buckets: dict[str, float], le: str) -> int | None:
    """How many observations of a cumulative histogram were above the bucket `le`."""
    return int(buckets["+Inf"] - buckets[le]) if buckets else None


def _label(metrics: str, name: str, label: str) -> str | None:
    """A label's value on an Info metric's line (None when the server does not report it)."""
    for line in metrics.splitlines():
        if line.startswith(name + "{") and f'{label}="' in line:
            return line.split(f'{label}="', 1)[1].split('"', 1)[0]
    return None


async def load(
    url: str, pid: int, bodies: list[dict[str, Any]], args: argparse.Namespace
) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    own: list[float] = []  # from the send (after any wait for the account's previous answer)
    chain_waits: list[float] = []
    waited = 0
    errors = 0
    examples: list[str] = []
    samples: list[dict[str, float]] = []
    last: dict[str, asyncio.Future[None]] = {}  # account -> its latest request's completion
    pending: set[asyncio.Task[None]] = set()
    limits = httpx.Limits(
        max_connections=args.connections, max_keepalive_connections=args.connections
    )
    raw = RawClient(url) if args.client == "raw" else None
    encoded = [json.dumps(b).encode() for b in bodies] if raw else []
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        gate = asyncio.Semaphore(args.connections)

        async def post(i: int) -> tuple[int, bytes]:
            if raw is not None:
                return await asyncio.wait_for(raw.post("/v1/transactions", encoded[i]), 30)
            r = await client.post("/v1/transactions", json=bodies[i])
            return r.status_code, r.content

        async def send(i: int, scheduled: float, before: list[asyncio.Future[None]],
                       done: asyncio.Future[None]) -> None:  # fmt: skip
            nonlocal errors, waited
            try:
                if any(not f.done() for f in before):
                    waited += 1
                    await asyncio.gather(*before)
                    chain_waits.append(time.perf_counter() - scheduled)
                started = time.perf_counter()
                async with gate:
                    status, content = await post(i)
                if status != 200 or not content.startswith(b'{"seq":'):  # an answer, whole
                    raise RuntimeError(f"{status}: {content[:200].decode(errors='replace')}")
                answered = time.perf_counter()
                latencies.append(answered - scheduled)
                own.append(answered - started)
            except Exception as exc:  # every failure counts, of any kind
                errors += 1
                if len(examples) < 5:
                    examples.append(f"{type(exc).__name__}: {exc}")
            finally:
                if not done.done():  # a drain timeout cancels waiters together
                    done.set_result(None)

        async def sample() -> None:
            while True:
                samples.append(_proc(pid))
                await asyncio.sleep(0.5)

        sampler = asyncio.create_task(sample())
        cpu0 = _proc(pid)["cpu_s"]
        client_cpu0 = time.process_time()
        loop = asyncio.get_running_loop()
        start = time.perf_counter()
        lag = []
        for i, b in enumerate(bodies):
            at = start + i / args.rate
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            lag.append(time.perf_counter() - at)
            keys = (b["from_bank"] + "/" + b["from_account"], b["to_bank"] + "/" + b["to_account"])
            before = [last[k] for k in keys if k in last] if args.chain else []
            done: asyncio.Future[None] = loop.create_future()
            for k in keys:
                last[k] = done
            task = asyncio.create_task(send(i, at, before, done))
            pending.add(task)
            task.add_done_callback(pending.discard)
        sent_for = time.perf_counter() - start
        _done, late = await asyncio.wait(pending, timeout=args.drain) if pending else (set(), set())
        for task in late:
            task.cancel()
        sampler.cancel()
        cpu = _proc(pid)["cpu_s"] - cpu0
        client_cpu = time.process_time() - client_cpu0
        metrics = (await client.get("/metrics")).text
        if raw is not None:
            await raw.close()
    post_route = {"method": "POST", "route": "/v1/transactions"}
    return {
        "sent_seconds": round(sent_for, 2),
        "requests": len(bodies),
        "answered": len(latencies),
        "errors": errors + len(late),
        "error_examples": examples,
        "waited_for_same_account": waited,
        "schedule_lag_p99_ms": round(float(np.percentile(np.asarray(lag) * 1000, 99)), 2),
        "latency": percentiles(latencies),
        "latency_from_send": percentiles(own),
        "chain_wait": percentiles(chain_waits),
        "client": args.client,
        "client_cpu_ms_per_request": round(1000 * client_cpu / max(len(bodies), 1), 3),
        "server_rss_mb": {
            "during_max": round(max(s["rss_mb"] for s in samples), 1),
            "peak_hwm": round(max(s["hwm_mb"] for s in samples), 1),
        },
        "server_cpu_seconds": round(cpu, 1),
        "server_cpu_ms_per_request": round(1000 * cpu / max(len(latencies), 1), 3),
        # The server's own view (ASGI call to last byte sent; no socket queues), cumulative.
        "server_post_seconds_buckets": histogram(metrics, "amlwatch_request_seconds", **post_route),
        "commit_seconds_buckets": histogram(metrics, "amlwatch_commit_seconds"),
        "commit_sync_seconds_buckets": histogram(metrics, "amlwatch_commit_sync_seconds"),
        "checkpoint_seconds_buckets": histogram(metrics, "amlwatch_checkpoint_seconds"),
        "commits_over_100ms": _over(histogram(metrics, "amlwatch_commit_seconds"), "0.1"),
        "server_durability": _label(metrics, "amlwatch_state_info", "durability"),
        "gc_pause_seconds_buckets": {
            g: histogram(metrics, "amlwatch_gc_pause_seconds", generation=g) for g in "012"
        },
        "commit_metrics": [
            line
            for line in metrics.splitlines()
            if line.startswith(
                (
                    "amlwatch_commit_group_size_sum",
                    "amlwatch_commit_group_size_count",
                    "amlwatch_commit_seconds_sum",
                    "amlwatch_commit_seconds_count",
                    "amlwatch_commit_sync_seconds_sum",
                    "amlwatch_wal_frames",
                    "amlwatch_checkpoints_forced_total",
                )
            )
        ],
    }


def disk_probe(directory: Path, n: int = 300) -> dict[str, float | None]:
    """This disk's sync alone: `n` fdatasyncs of 32 KiB (a commit's ~8 WAL pages) overwritten in
    place in `directory` (where the state file is), 2 ms apart, just before the load."""
    path = directory / "fsync-probe"
    block = os.urandom(32 * 1024)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC)
    try:
        os.write(fd, block * 64)
        os.fsync(fd)
        syncs = []
        for i in range(n):
            os.pwrite(fd, block, (i % 64) * len(block))
            started = time.perf_counter()
            os.fdatasync(fd)
            syncs.append(time.perf_counter() - started)
            time.sleep(0.002)
    finally:
        os.close(fd)
        path.unlink()
    return percentiles(syncs)


def in_process(
    run: Path, bodies: list[dict[str, Any]], db: Path, *, durability: str
) -> dict[str, Any]:
    """Where a request's time goes without HTTP: scoring CPU, and commit (sync) wall time."""
    from amlwatch.serve.commit import make_committer
    from amlwatch.serve.schemas import TransactionBody
    from amlwatch.serve.service import Service
    from amlwatch.serve.settings import Durability, ServeSettings

    service = Service.start(ServeSettings(run, db=db, durability=Durability(durability)))
    commits: list[float] = []
    service.store.background_checkpoints()  # as the server does
    cpu: list[float] = []

    async def one_at_a_time() -> None:  # every commit holds one transaction
        service.committer = make_committer(
            service.store, on_commit=lambda n, s, _: commits.append(s)
        )
        try:
            for b in bodies:
                c0 = time.process_time()
                _, future = service.score(TransactionBody(**b))
                cpu.append(time.process_time() - c0)
                await asyncio.wrap_future(future)
        finally:
            service.close()

    asyncio.run(one_at_a_time())
    return {
        "transactions": len(cpu),
        "score_cpu": percentiles(cpu),
        "score_cpu_mean_ms": round(1000 * float(np.mean(cpu)), 3),
        "commit_wall_one_per_commit": percentiles(commits),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "aml-serve-load"
    )
    parser.add_argument("--transactions", type=int, default=50_000, help="world size")
    parser.add_argument("--history", type=float, default=0.7, help="share of the world as history")
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of sending (bounded)")
    parser.add_argument("--drain", type=float, default=30.0)
    parser.add_argument("--connections", type=int, default=32, help="requests in flight, at most")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--chain",
        action="store_true",
        help="send a transaction only after its accounts' earlier ones are answered",
    )
    parser.add_argument(
        "--client",
        choices=("httpx", "raw"),
        default="httpx",
        help="httpx.AsyncClient, or keep-alive HTTP/1.1 on asyncio streams (~1/10 of the CPU)",
    )
    parser.add_argument(
        "--no-fast-path",
        dest="fast_path",
        action="store_false",
        help="start the server with every request through FastAPI (for comparison)",
    )
    parser.add_argument(
        "--durability",
        choices=("process", "power"),
        default="process",
        help="the server's --durability (power: synchronous=FULL, an fsync per commit)",
    )
    parser.add_argument("--results", type=Path, default=None)
    parser.add_argument(
        "--prepare-only", action="store_true", help="build the world and run, then stop"
    )
    parser.add_argument(
        "--in-process",
        type=int,
        default=0,
        help="instead of the load: score this many stream transactions in-process, one by one",
    )
    args = parser.parse_args(argv)
    if args.duration > 600 or args.rate * args.duration > 100_000:
        parser.error("bounded: at most 600 s and 100,000 requests")
    args.workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    run, stream = prepare(args.workdir, args.transactions, args.history, args.seed)
    prepare_s = time.perf_counter() - t0
    if args.prepare_only:
        print(f"prepared {run} and {stream.height:,} stream transactions in {prepare_s:.0f} s")
        return
    n = int(args.rate * args.duration)
    if stream.height < n:
        parser.error(f"the stream has {stream.height} transactions, the load needs {n}")
    stream = stream.head(n).with_columns(pl.col("timestamp").dt.strftime("%Y/%m/%d %H:%M"))
    bodies = stream.select("timestamp", *FIELDS).to_dicts()
    if args.in_process:
        with tempfile.TemporaryDirectory(prefix="aml-serve-inproc-") as tmp:
            out = in_process(
                run, bodies[: args.in_process], Path(tmp) / "state.sqlite3",
                durability=args.durability,
            )  # fmt: skip
        print(json.dumps({"load_average": os.getloadavg(), **out}, indent=2))
        return
    with tempfile.TemporaryDirectory(prefix="aml-serve-load-") as tmp:
        log = Path(tmp) / "server.log"
        shutil.copy(args.workdir / "state.sqlite3", Path(tmp) / "state.sqlite3")
        process, url, startup = start_server(
            run, Path(tmp) / "state.sqlite3", log, durability=args.durability,
            fast_path=args.fast_path,
        )  # fmt: skip
        try:
            idle = _proc(process.pid)
            disk = disk_probe(Path(tmp))
            load_avg = os.getloadavg()
            result = asyncio.run(load(url, process.pid, bodies, args))
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
    record = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in load_avg],
        "commit": served_commit(),
        "world_transactions": args.transactions,
        "chain": args.chain,
        "fast_path": args.fast_path,
        "durability": args.durability,
        "rate": args.rate,
        "duration": args.duration,
        "prepare_seconds": round(prepare_s, 1),
        "startup_seconds": round(startup, 1),
        "server_rss_mb_idle": round(idle["rss_mb"], 1),
        "disk_fdatasync_32k": disk,
        **result,
    }
    print(json.dumps(record, indent=2))
    if args.results:
        with args.results.open("a") as fh:
            fh.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
