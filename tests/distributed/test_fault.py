"""A worker killed while it builds features: the stage is retried and the submission is unchanged."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import polars as pl
import pytest

from basketcast.pipeline import RunResult, run
from tests.distributed.conftest import small_config

distributed = pytest.importorskip("distributed")


def _kill_a_worker_running(client: object, prefix: str, *, timeout: float) -> int | None:
    """SIGKILL the process of a worker while it runs a task whose key starts with `prefix`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for worker, keys in client.processing().items():  # type: ignore[attr-defined]
            if any(str(k).startswith(prefix) for k in keys):
                pid = client.run(os.getpid, workers=[worker])[worker]  # type: ignore[attr-defined]
                os.kill(pid, signal.SIGKILL)
                return pid
        time.sleep(0.005)
    return None


def test_killing_a_worker_during_features_keeps_the_submission(
    synth_folder: Path,
    cluster_address: str,
    clustered: RunResult,
    tmp_path: Path,
) -> None:
    out = tmp_path / "run"
    results: dict[str, object] = {}

    def target() -> None:
        try:
            results["run"] = run(synth_folder, out, config=small_config(cluster_address))
        except BaseException as exc:  # re-raised below, in the test's thread
            results["error"] = exc

    with distributed.Client(cluster_address) as client:
        worker = threading.Thread(target=target)
        worker.start()
        killed = _kill_a_worker_running(client, "features-transform-", timeout=300)
        worker.join()
        client.wait_for_workers(2, timeout=60)  # the nanny restarted it, for the next tests
    if "error" in results:
        raise results["error"]  # type: ignore[misc]
    assert killed is not None, "no feature task was seen running"
    result = results["run"]
    assert isinstance(result, RunResult)
    assert result.metrics["cluster"]["workers_at_training"] == 2  # the nanny brought it back
    assert result.submission.equals(clustered.submission)
    # nothing half-written is read: every shard file is complete, no temporary file is named
    (features,) = (out / "features").glob("dask-*")
    parts = sorted((features / "items").glob("shard-*.parquet"))
    assert len(parts) == 4 and all(pl.read_parquet(p).height for p in parts)


def test_a_rerun_resumes_finished_stages_and_shards(
    synth_folder: Path, cluster_address: str, clustered: RunResult, tmp_path: Path
) -> None:
    """As after a crash in the features stage: the stage mark and one shard's file are gone."""
    import shutil

    out = tmp_path / "run"
    shutil.copytree(clustered.out, out)
    (features,) = (out / "features").glob("dask-*")
    (features / "done.json").unlink()
    (features / "items" / "shard-00002.parquet").unlink()
    kept = {p: p.stat().st_mtime_ns for p in (features / "items").glob("*.parquet")}
    result = run(synth_folder, out, config=small_config(cluster_address))
    cached = {s["name"]: s["cached"] for s in result.metrics["stages"]}
    assert cached["shard"] and cached["statistics"] and not cached["features"]
    assert cached["item model"] and cached["none model"]
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items())  # only shard 2 rebuilt
    assert (features / "items" / "shard-00002.parquet").is_file()
    assert result.submission.equals(clustered.submission)
