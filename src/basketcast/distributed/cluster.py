"""Choosing the cluster: a LocalCluster started for the run, or an existing scheduler.

`local:N` starts N worker *processes* (one GIL each; Polars and XGBoost release
it, but the Python glue around them does not) with a memory limit and a thread
budget split across them, so N workers never start more threads than the
machine has cores when that is possible. `tcp://HOST:PORT` joins a scheduler
started elsewhere (`dask scheduler` / `dask worker`, or a managed cluster).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from concurrent.futures import CancelledError
from dataclasses import asdict, dataclass
from typing import Any

from basketcast.config import ClusterConfig

__all__ = ["ClusterError", "ClusterInfo", "connect", "describe", "thread_split"]

_THREAD_VARS = (
    "OMP_NUM_THREADS",
    "POLARS_MAX_THREADS",
    "NUMBA_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
)


class ClusterError(RuntimeError):
    """A stage could not finish on the cluster (workers kept dying, the scheduler went away).

    Nothing is published; finished stages and shards stay in the run folder's cache.
    """


_LOST_WORKER = "distributed.deploy.lost-worker-timeout"
LOST_WORKER_SECONDS = 120
"""How long a run waits for a lost worker to come back (its nanny restarts it) before training."""


@dataclass(frozen=True)
class ClusterInfo:
    """What the run computed on: recorded in metrics.json and the report."""

    address: str
    scheduler: str
    dashboard: str
    workers: int
    threads: tuple[int, ...]
    memory_limit_bytes: tuple[int, ...]
    note: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: tuples as lists."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def summary(self) -> str:
        memory = ", ".join(f"{m / 2**30:.1f}" for m in self.memory_limit_bytes) or "-"
        return (
            f"{self.workers} worker(s) at {self.scheduler}, threads {list(self.threads)}, "
            f"memory limits (GiB) {memory}; dashboard {self.dashboard}. {self.note}".strip()
        )


def thread_split(workers: int, *, cores: int, requested: int = 0) -> tuple[int, str]:
    """Threads per worker so that workers × threads ≤ cores where possible.

    Returns the count and a sentence saying how the budget was split.
    """
    if requested > 0:
        note = f"{workers} worker(s) × {requested} thread(s) (as configured) on {cores} core(s)"
        if workers * requested > cores:
            note += ": more threads than cores"
        return requested, note + "."
    if workers <= cores:
        each = cores // workers
        return each, f"{workers} worker(s) × {each} thread(s) on {cores} core(s)."
    return 1, (
        f"{workers} worker(s) × 1 thread on {cores} core(s): more workers than cores, "
        "so they share them (memory per process is what this buys, not speed)."
    )


def _dask() -> Any:
    try:
        import distributed
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "a Dask cluster needs the `dask` extra: pip install 'basketcast[dask]'"
        ) from exc
    return distributed


def _local_cluster(config: ClusterConfig) -> tuple[Any, str]:
    distributed = _dask()
    workers = int(config.address.removeprefix("local:"))
    cores = os.cpu_count() or 1
    threads, note = thread_split(workers, cores=cores, requested=config.threads_per_worker)
    env = dict.fromkeys(_THREAD_VARS, str(threads)) | {"OMP_WAIT_POLICY": "PASSIVE"}
    cluster = distributed.LocalCluster(
        n_workers=workers,
        threads_per_worker=threads,
        processes=True,
        memory_limit=config.memory_limit,
        # Any free port: two runs on one machine must not fight over :8787.
        dashboard_address=":0",
        scheduler_port=0,
        # Errors reach the client with the task that failed; what workers log while a starved
        # machine tears the cluster down is noise around the run's one error line.
        silence_logs=50,
        env=env,
    )
    return cluster, note


@contextlib.contextmanager
def connect(config: ClusterConfig) -> Iterator[tuple[Any, ClusterInfo]]:
    """A `distributed.Client` for `config.address` and what it connected to.

    A LocalCluster started here is closed on exit; an existing scheduler is left running.
    """
    distributed = _dask()
    if not config.address:
        raise ValueError("no cluster configured (cluster.address is empty)")
    import dask

    cluster, note = None, "an existing scheduler: its workers' threads and memory as started."
    with contextlib.ExitStack() as stack:
        if config.address.startswith("local:"):
            # A LocalCluster closes the nanny of a worker that stays lost for this long, so a
            # killed worker is never restarted when its restart is slow (a loaded machine
            # easily takes 15 s, the default). Held for the whole run: the cluster reads it
            # when a worker goes.
            stack.enter_context(dask.config.set({_LOST_WORKER: f"{LOST_WORKER_SECONDS}s"}))
            cluster, note = _local_cluster(config)
            client = distributed.Client(cluster)
        else:
            client = distributed.Client(config.address, timeout="30s")
        try:
            if cluster is None:
                try:
                    client.wait_for_workers(1, timeout=60)
                except TimeoutError:
                    raise ClusterError(
                        f"no worker joined the scheduler at {config.address} within 60 s"
                    ) from None
            yield client, describe(client, address=config.address, note=note)
        finally:
            # Closing can time out on a starved machine, after the run has published (or while
            # an error propagates): that must neither fail a finished run nor hide the error.
            with contextlib.suppress(TimeoutError, OSError, CancelledError):
                client.close()
            if cluster is not None:
                with contextlib.suppress(TimeoutError, OSError, CancelledError):
                    cluster.close()


def describe(client: Any, *, address: str = "", note: str = "") -> ClusterInfo:
    """Workers, threads and memory limits of the cluster behind `client`."""
    info = client.scheduler_info(n_workers=-1)
    workers = sorted(info["workers"].values(), key=lambda w: str(w.get("name")))
    return ClusterInfo(
        address=address or client.scheduler.address,
        scheduler=client.scheduler.address,
        dashboard=client.dashboard_link or "",
        workers=len(workers),
        threads=tuple(int(w["nthreads"]) for w in workers),
        memory_limit_bytes=tuple(int(w.get("memory_limit") or 0) for w in workers),
        note=note,
    )
