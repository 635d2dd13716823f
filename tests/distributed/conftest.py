"""A small synthetic history on disk and a real LocalCluster of 2 worker processes (session-wide)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from basketcast.config import (
    BasketConfig,
    ClusterConfig,
    FeatureConfig,
    ModelConfig,
    PNone,
    RunConfig,
)
from basketcast.pipeline import RunResult, run

distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")

USERS = 300


@pytest.fixture(scope="session")
def synth_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 synthetic users as CSV (text columns: the path real exports take), seed 0."""
    from basketcast.data.sources.synthetic import synthetic, write_synthetic

    out = tmp_path_factory.mktemp("synth")
    write_synthetic(synthetic(USERS, seed=0, threads=1), out, format="csv")
    return out


@pytest.fixture(scope="session")
def cluster_address() -> Iterator[str]:
    """A LocalCluster of 2 worker processes (1 thread each), with nannies that restart a killed worker."""
    import dask

    from basketcast.distributed.cluster import LOST_WORKER_SECONDS

    # As `basketcast run --cluster local:N` does: a nanny whose worker is slow to restart
    # (a loaded CI machine) is not closed after the default 15 s.
    lost = {"distributed.deploy.lost-worker-timeout": f"{LOST_WORKER_SECONDS}s"}
    with dask.config.set(lost):
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=50,
            memory_limit="2GiB",
        )
        try:
            yield cluster.scheduler_address
        finally:
            cluster.close()


def small_config(address: str = "", *, shards: int = 4) -> RunConfig:
    """A quick run: 2 folds, 1 history target, shallow trees without row or column sampling.

    No sampling, so the single process and the cluster grow trees from the same
    rows and columns; what still differs is the distributed quantile sketch and
    the order of the histogram sums (bounded by the parity tests).
    """
    return RunConfig(
        threads=1,
        features=FeatureConfig(history_targets=1),
        model=ModelConfig(
            folds=2,
            num_boost_round=40,
            early_stopping_rounds=10,
            max_depth=4,
            subsample=1.0,
            colsample_bytree=1.0,
            device="cpu",  # type: ignore[arg-type]
        ),
        # The cluster has no `auto` (it uses the None model): the single run must too.
        basket=BasketConfig(p_none=PNone.MODEL),
        cluster=ClusterConfig(address=address, shards=shards),
    )


@pytest.fixture(scope="session")
def single(synth_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    return run(synth_folder, tmp_path_factory.mktemp("single"), config=small_config())


@pytest.fixture(scope="session")
def clustered(
    synth_folder: Path, cluster_address: str, tmp_path_factory: pytest.TempPathFactory
) -> RunResult:
    return run(
        synth_folder, tmp_path_factory.mktemp("cluster"), config=small_config(cluster_address)
    )
