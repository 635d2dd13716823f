"""A whole run on a Dask cluster: shard → statistics (map-reduce) → features → models → scoring.

The stages and outputs of `basketcast.pipeline.run`, computed where the data
is: each shard's features, probabilities, baskets and per-order F1 are made
on a worker and written there; the client holds the small tables only (the
combined statistics, the models, the per-order F1 values, the submission).

The run folder's life cycle is one process's (`basketcast.runfolder`): the
folder is locked for the whole run, the final outputs are staged in
``RUN/.outputs/<invocation>/`` and published together with ``run.json`` (every
output's size and sha256) when the run completes, and the invocation id is in
metrics.json and the report. Intermediate files are the run folder's caches
(`basketcast.distributed.stages`), so a rerun after a failure resumes from
the finished stages. A failure the scheduler cannot retry (a task whose
workers keep dying, the scheduler gone) is a `ClusterError` naming the stage;
nothing is published, and the previous outputs, if any, stay as they were.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl

from basketcast._fault import fault_point
from basketcast._meter import StageMeter, StageRecord
from basketcast.config import RunConfig
from basketcast.distributed import stages, summary
from basketcast.distributed.cluster import LOST_WORKER_SECONDS, ClusterError, connect
from basketcast.io import write_frame, write_text
from basketcast.runfolder import check_writable, open_run_folder

__all__ = ["ClusterError", "run_on_cluster"]

Progress = Callable[[str, str], None]


def run_on_cluster(
    data: str | Path,
    out: str | Path,
    *,
    config: RunConfig,
    progress: Progress | None = None,
) -> Any:
    """`basketcast.pipeline.run` on the cluster of ``config.cluster``; returns its `RunResult`.

    Raises
    ------
    ClusterError
        A stage could not finish on the cluster; nothing was published.
    basketcast.runfolder.RunFolderBusy
        Another run holds `out`.
    """
    from basketcast.inference import P_NONE_FILE, STATS_DIR
    from basketcast.pipeline import RunResult, data_fingerprint

    summary.check_cluster_config(config)
    data, out = Path(data), Path(out)
    records: list[StageRecord] = []
    notes: list[str] = []
    report = progress or (lambda stage, event: None)
    failures = _Failures()

    def stage(name: str) -> StageMeter:
        failures.stage = name
        return StageMeter(name, records=records, progress=progress)

    def note(stage_name: str, text: str | None) -> None:
        if text:
            notes.append(text)
            report(stage_name, f"warning: {text}")

    started = time.time()
    check_writable(out)  # a wrong --out is said at once, before a cluster starts
    # `failures` sits inside `connect`: what goes wrong closing the cluster after the run
    # published is not a failure of the run.
    with open_run_folder(out) as folder, connect(config.cluster) as (client, info), failures:
        report("cluster", info.summary())
        client.get_task_stream(start=time.time())  # registers the scheduler's task-stream plugin
        with stage("shard") as meter:
            manifest, shards_dir, meter.cached = stages.shards(
                data, folder, config, info, data_fingerprint
            )
        fault_point("stage:shard")
        # Resolved as one process resolves it (the data's users), so both build the same rows.
        config = config.resolved(users=sum(manifest.users))
        write_text(folder.output("config.toml"), config.to_toml())
        fingerprint = manifest.fingerprint
        folders = [str(f) for f in manifest.folders(shards_dir)]
        features_key = stages.key(fingerprint, config.stage_hash("features"), str(manifest.shards))
        features_dir = folder.cache("dask-features") / features_key
        with stage("statistics") as meter:
            stats, meter.cached = stages.statistics(client, folders, features_dir, config, meter)
        with stage("features") as meter:
            item_parts, order_parts, meter.cached = stages.features(
                client, folders, features_dir, config, stats, meter
            )
            # `basketcast predict RUN` transforms new users with the depth-0 statistics.
            replace(stats[0], fingerprint=fingerprint, key=features_key).save(
                folder.output(STATS_DIR)
            )
        fault_point("stage:features")
        # Training spreads the rows over the workers present, and the model depends on how they
        # are spread: wait for a worker lost earlier (a nanny restarts it) so a retried run
        # trains on the same layout as an undisturbed one.
        workers_back = _wait_for_workers(client, info.workers)
        device = client.submit(_resolve_device, str(config.model.device), pure=False).result()
        model_key = stages.key(
            fingerprint, config.stage_hash("features", "model"), str(config.seed), "dask"
        )
        trained: dict[str, Any] = {}
        kinds = ("item", "none") if config.model.none_model else ("item",)
        for kind in kinds:
            with stage(f"{kind} model") as meter:
                parts = item_parts if kind == "item" else order_parts
                trained[kind], meter.cached = stages.train(
                    client, parts, folder, kind, model_key, config, device, meter, note
                )
            fault_point(f"stage:{kind} model")
        with stage("baskets") as meter:
            scored = stages.score(
                client, folders, item_parts, order_parts, folder, config, trained, meter
            )
            submission = (
                pl.concat([s["submission"] for s in scored])
                .sort("order_id")
                .select("order_id", "products")
            )
            write_frame(submission, folder.output("submission.csv"))
        fault_point("stage:baskets")
        with stage("evaluate"):
            metrics = summary.metrics(
                scored, trained, config, info, fingerprint, data, device, started
            )
            metrics["invocation_id"] = folder.invocation_id
            metrics["notes"] = notes
            # `predict` follows the run's p(None) source, as after a single-process run.
            write_text(
                folder.output(f"models/{P_NONE_FILE}"),
                json.dumps(metrics["p_none"], indent=2) + "\n",
            )
        fault_point("stage:evaluate")
        with stage("report"):
            summary.write_report(
                folder.output("report.html"), folders, config, metrics, scored, trained, records
            )
        fault_point("stage:report")
        metrics["stages"] = [
            {"name": r.name, "seconds": r.seconds, "peak_rss_mb": r.peak_rss_mb, "cached": r.cached}
            for r in records
        ]
        metrics["cluster"]["worker_peak_rss_mb"] = summary.worker_peaks(client)
        metrics["cluster"]["tasks"] = summary.task_costs(client, since=started)
        metrics["cluster"]["workers_at_training"] = workers_back
        text = json.dumps(metrics, indent=2, default=summary.json_default) + "\n"
        write_text(folder.output("metrics.json"), text)
        folder.publish(extra={"run_id": metrics["run_id"], "data_fingerprint": fingerprint})
    return RunResult(out=out, metrics=metrics, submission=submission, stages=records)


class _Failures(contextlib.AbstractContextManager["_Failures"]):
    """Turns what the cluster cannot recover from into a `ClusterError` naming the stage."""

    def __init__(self) -> None:
        self.stage = "cluster"

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            return
        reason = _cluster_failure(exc)
        if reason is not None:
            raise ClusterError(
                f"{self.stage}: {reason}; nothing was published (finished stages are kept: run "
                "the same command again to resume)"
            ) from exc


def _cluster_failure(exc: BaseException) -> str | None:
    """Why the cluster failed, in words, when `exc` is a cluster failure (not bad input, not a bug)."""
    from concurrent.futures import CancelledError

    from distributed.comm.core import CommClosedError
    from distributed.scheduler import KilledWorker

    if isinstance(exc, KilledWorker):
        task, _worker, allowed = exc.args
        return (
            f"the workers running task {task} died {allowed + 1} time(s), more than the "
            f"scheduler retries (distributed.scheduler.allowed-failures = {allowed}); "
            "is it running out of memory?"
        )
    if isinstance(exc, CommClosedError | CancelledError):
        return f"workers or the scheduler went away ({type(exc).__name__}: {exc})"
    if isinstance(exc, TimeoutError):
        return f"the cluster did not answer in time ({exc})"
    return None


def _wait_for_workers(client: Any, count: int, *, timeout: float = LOST_WORKER_SECONDS) -> int:
    """Wait up to `timeout` s for `count` workers; the number present when training starts."""
    # On a timeout, train on those present: the run still completes, on another layout.
    with contextlib.suppress(TimeoutError):
        client.wait_for_workers(count, timeout=timeout)
    return len(client.scheduler_info(n_workers=-1)["workers"])


def _resolve_device(device: str) -> str:
    from basketcast.device import resolve_device

    return resolve_device(device)
