"""Workers killed while they build features: the stage is retried, or the run fails cleanly.

The fault bar's two branches: a worker killed once is replaced and its task
rerun, and the submission is unchanged; a task whose workers die more often
than the scheduler retries fails the run with one line and exit code 2,
publishes nothing, and the same command then completes with the same submission.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from basketcast._fault import ENV
from basketcast.pipeline import RunResult, run
from tests.distributed.conftest import small_config
from tests.faults._runner import leftovers, output_state

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
    # Nothing half-written was read: the feature partitions the later stages read are the
    # undisturbed run's, row for row; the killed writer's temporary file (if it got that far)
    # is gone; and every published output matches run.json, all of this invocation.
    for kind in ("items", "orders"):
        assert _partitions(out, kind).equals(_partitions(clustered.out, kind)), kind
    assert leftovers(out) == []
    assert output_state(out) == ("complete", result.metrics["invocation_id"])


def _partitions(out: Path, kind: str) -> pl.DataFrame:
    (features,) = (out / "cache" / "dask-features").iterdir()
    parts = sorted((features / kind).glob("shard-*.parquet"))
    assert len(parts) == 4
    return pl.concat([pl.read_parquet(p) for p in parts])


def test_a_rerun_resumes_finished_stages_and_shards(
    synth_folder: Path, cluster_address: str, clustered: RunResult, tmp_path: Path
) -> None:
    """As after a crash in the features stage: the stage mark and one shard's file are gone."""
    import shutil

    out = tmp_path / "run"
    shutil.copytree(clustered.out, out)
    (features,) = (out / "cache" / "dask-features").iterdir()
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


def _basketcast(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = "from basketcast.cli import app; app(prog_name='basketcast')"
    return subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=600
    )


def test_a_task_whose_workers_keep_dying_fails_the_run_cleanly_and_a_rerun_completes(
    synth_folder: Path, clustered: RunResult, tmp_path: Path
) -> None:
    """`basketcast run --cluster local:2` over a folder holding a finished run.

    Every worker that writes shard 1's features SIGKILLs itself just before the
    rename (the `BASKETCAST_FAULT` hook: its file is whole but still temporary),
    and the scheduler retries a task once: the task fails for good. The
    features and models are recomputed (their caches removed) so the rerun
    must rebuild shard 1 and retrain.
    """
    out = tmp_path / "run"
    shutil.copytree(clustered.out, out, symlinks=True)
    for cache in ("dask-features", "item", "none"):
        shutil.rmtree(out / "cache" / cache)
    before = output_state(out)
    config = small_config("local:2")
    config = replace(config, cluster=replace(config.cluster, threads_per_worker=1))
    (tmp_path / "c.toml").write_text(config.to_toml())
    args = ("run", str(synth_folder), "--out", str(out), "--config", str(tmp_path / "c.toml"))
    env = {k: v for k, v in os.environ.items() if k != ENV}
    failing = env | {
        ENV: "kill@write:shard-00001.parquet",
        "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1",
    }

    failed = _basketcast(*args, env=failing)
    assert failed.returncode == 2, failed.stderr
    assert "Traceback" not in failed.stderr + failed.stdout
    (line,) = [x for x in failed.stderr.splitlines() if "error:" in x]
    assert line.startswith("error: features: the workers running task features-transform-1 died"), (
        line
    )
    assert "nothing was published" in line and "run the same command again" in line
    assert output_state(out) == before  # the previous outputs, untouched
    # Left behind: only the killed writers' temporary files (no staged invocation), which
    # nothing reads: shard 1's partition does not exist under its real name.
    left = leftovers(out)
    assert left and all(re.search(r"/items/\.shard-00001\.parquet\..+\.tmp$", p) for p in left)
    (features,) = (out / "cache" / "dask-features").iterdir()
    assert not (features / "items" / "shard-00001.parquet").exists()

    again = _basketcast(*args, env=env)
    assert again.returncode == 0, again.stderr
    state, invocation = output_state(out)
    assert state == "complete" and invocation != before[1]
    assert leftovers(out) == []
    assert pl.read_csv(out / "submission.csv").equals(pl.read_csv(clustered.out / "submission.csv"))
    stages = {
        s["name"]: s["cached"] for s in json.loads((out / "metrics.json").read_text())["stages"]
    }
    assert stages["shard"] and stages["statistics"]
    assert not stages["features"] and not stages["item model"] and not stages["none model"]
