"""The graph snapshots' worker process: safe after an OpenMP pool started, and clean on failure."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from amlwatch.features.snapshots import Snapshots

# A forked worker deadlocked in igraph's PageRank once the parent had run XGBoost on two
# threads (`amlwatch score` loads its boosters before it computes features). Run in a
# child interpreter with a timeout, so that a regression fails instead of hanging the suite.
AFTER_OPENMP = textwrap.dedent(
    """
    import numpy as np, xgboost as xgb
    from amlwatch.features.snapshots import Snapshots, snapshots
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 8))
    booster = xgb.train({"nthread": 2, "max_depth": 3}, xgb.DMatrix(X, X[:, 0] > 0), 5)
    booster.predict(xgb.DMatrix(X))  # the OpenMP pool is running now
    n = 2_000  # large enough for igraph's PageRank to use its threads
    day = np.sort(rng.integers(0, 30, 50_000))
    key = rng.integers(0, n, 50_000) * n + rng.integers(0, n, 50_000)
    args = (day, key, n, [10, 20, 29])
    got = Snapshots(*args, window_days=7, seed=0, background=True).result()
    want = snapshots(*args, 7, 0)
    assert all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))
    print("same")
    """
)


def test_the_worker_runs_after_an_openmp_pool_started() -> None:
    done = subprocess.run(
        [sys.executable, "-c", AFTER_OPENMP], capture_output=True, text=True, timeout=90
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "same"


def test_a_failed_worker_is_an_error_and_leaves_no_files() -> None:
    day = np.array([0, 1, 2])
    key = np.array([1, 2, 3])
    # A negative account count: the worker's arrays cannot be made, so it exits with an error.
    job = Snapshots(day, key, -1, [2], window_days=7, seed=0, background=True)
    folder = Path(job._folder.name)  # type: ignore[union-attr]
    with pytest.raises(RuntimeError, match=r"snapshot worker failed.*negative dimensions"):
        job.result()
    assert not folder.exists()


def test_closing_early_stops_the_worker_and_removes_its_files() -> None:
    rng = np.random.default_rng(1)
    n = 2_000
    day = np.sort(rng.integers(0, 60, 200_000))
    key = rng.integers(0, n, 200_000) * n + rng.integers(0, n, 200_000)
    job = Snapshots(day, key, n, list(range(7, 60)), window_days=7, seed=0, background=True)
    worker, folder = job._worker, Path(job._folder.name)  # type: ignore[union-attr]
    job.close()
    assert worker is not None and worker.returncode is not None
    assert not folder.exists()
