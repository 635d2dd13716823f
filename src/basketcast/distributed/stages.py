"""The stages of a cluster run, each reading and writing the run folder's caches.

Every stage's intermediate files live under ``RUN/cache/`` (the run folder of
`basketcast.runfolder`): the user shards (``cache/shards``), the statistics
and feature partitions (``cache/dask-features/<key>``), the fold models (the
same `StageCache` entries as one process, ``cache/item`` and ``cache/none``)
and the per-shard probability parts (``cache/dask-scores``, dropped once
joined). Final outputs go only to the invocation's staging folder, which
`RunFolder.publish` makes the run's outputs all at once.

Resuming: per-shard files are written atomically by the workers and a stage's
``done.json`` last, so a rerun after a failure reuses finished stages and,
within the features stage, the shards already written. A worker killed while
it writes leaves a hidden temporary file that nothing reads; the stage sweeps
them before it starts.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from basketcast._meter import StageMeter
from basketcast.config import RunConfig
from basketcast.distributed import summary, tasks
from basketcast.distributed.cluster import ClusterError, ClusterInfo
from basketcast.distributed.shard import ShardManifest, read_manifest, shard_dataset, shard_name
from basketcast.features.stats import FittedStats
from basketcast.io import atomic_path, sweep_temporary, write_text
from basketcast.runfolder import RunFolder

__all__ = [
    "ClusterError",
    "features",
    "gather",
    "key",
    "score",
    "shards",
    "statistics",
    "train",
]

_DONE = "done.json"


def key(*parts: str) -> str:
    """A cache key: a short hash of what a stage's result depends on."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def gather(client: Any, futures: list[Any], *, stage: str, meter: StageMeter) -> list[Any]:
    """Results in submission order, with per-shard progress; input errors as client-side errors."""
    from distributed import as_completed

    done = 0
    try:
        for future in as_completed(futures):
            if future.status == "cancelled":
                _raise_root_cause(futures)
            done += 1
            meter.message(f"{done}/{len(futures)} shards")
        return list(client.gather(futures))
    except tasks.ShippedDataError as exc:
        raise exc.to_data_error() from None


def _raise_root_cause(futures: list[Any], *, timeout: float = 30.0) -> None:
    """A task cancelled under us: raise the error of a task that failed, if one did, first.

    When workers die, the scheduler can drop the result of a finished task (its
    worker is gone) before it reports the task that killed them, so the first
    future to come back may be a cancellation: the task that failed says why.
    """
    import time

    deadline = time.monotonic() + timeout
    while True:
        for future in futures:
            if future.status == "error":
                future.result()  # raises the task's own error
        if time.monotonic() > deadline or all(f.status != "pending" for f in futures):
            break
        time.sleep(0.1)
    next(f for f in futures if f.status == "cancelled").result()


def _sweep(*folders: Path) -> None:
    """Temporary files a killed worker left (the run folder's lock rules out live writers)."""
    for folder in folders:
        sweep_temporary(folder, everything=True)


# --- shards and statistics ------------------------------------------------------------------


def shards(
    data: Path,
    folder: RunFolder,
    config: RunConfig,
    info: ClusterInfo,
    fingerprint_of: Callable[[Path], str],
) -> tuple[ShardManifest, Path, bool]:
    """The input's user shards: `data` itself when it is a sharded folder, else RUN/cache/shards."""
    manifest = read_manifest(data)
    if manifest is not None:
        return manifest, data, True
    count = config.cluster.shards or 4 * max(info.workers, 1)
    target = folder.cache("shards")
    before = read_manifest(target)
    manifest = shard_dataset(data, target, shards=count, fingerprint=fingerprint_of(data))
    return manifest, target, before == manifest


def _stats_dir(folder: Path, depth: int) -> Path:
    return folder / "stats" / f"depth-{depth}"


def statistics(
    client: Any,
    folders: Sequence[str],
    features_dir: Path,
    config: RunConfig,
    meter: StageMeter,
) -> tuple[list[FittedStats], bool]:
    """Validate every shard and map-reduce the families' shared statistics (one reduce per depth)."""
    depths = config.features.targets + 1
    if (features_dir / "stats" / _DONE).exists():
        return [FittedStats.load(_stats_dir(features_dir, d)) for d in range(depths)], True
    futures = [
        client.submit(
            tasks.shard_partials, folder, config=config.features, key=f"statistics-map-{k}"
        )
        for k, folder in enumerate(folders)
    ]
    gather(client, futures, stage="statistics", meter=meter)
    reduced = [
        client.submit(_combine_depth, futures, depth, key=f"statistics-reduce-{depth}")
        for depth in range(depths)
    ]
    stats: list[FittedStats] = gather(client, reduced, stage="statistics", meter=meter)
    for depth, fitted in enumerate(stats):
        fitted.save(_stats_dir(features_dir, depth))
    write_text(features_dir / "stats" / _DONE, json.dumps({"depths": depths}) + "\n")
    return stats, False


def _combine_depth(shards: list[Any], depth: int) -> FittedStats:
    """The reduce: one depth's partials of every shard, added once, as fitted statistics."""
    from basketcast.distributed.stats import combine

    names = shards[0][depth][0]
    tables = combine([s[depth][1] for s in shards], names)
    return FittedStats(depth=depth, families=names, tables=tables)


# --- features -------------------------------------------------------------------------------


def features(
    client: Any,
    folders: Sequence[str],
    features_dir: Path,
    config: RunConfig,
    stats: list[FittedStats],
    meter: StageMeter,
) -> tuple[list[Path], list[Path], bool]:
    """Each shard's item and order frames, written by a worker; finished shards are kept."""
    items = [features_dir / "items" / f"{shard_name(k)}.parquet" for k in range(len(folders))]
    orders = [features_dir / "orders" / f"{shard_name(k)}.parquet" for k in range(len(folders))]
    if (features_dir / _DONE).exists():
        return items, orders, True
    _sweep(features_dir / "items", features_dir / "orders")
    # The statistics go to the tasks as the files the previous stage saved, not as scattered
    # data: scattered data dies with the last worker holding it, and then every task that
    # needs it is cancelled instead of retried.
    del stats
    depths = [str(_stats_dir(features_dir, d)) for d in range(config.features.targets + 1)]
    todo = [k for k in range(len(folders)) if not (items[k].exists() and orders[k].exists())]
    if len(todo) < len(folders):
        meter.message(f"resuming: {len(folders) - len(todo)} shard(s) already written")
    futures = [
        client.submit(
            tasks.transform_shard,
            folders[k],
            str(items[k]),
            str(orders[k]),
            config=config.features,
            stats=depths,
            key=f"features-transform-{k}",
        )
        for k in todo
    ]
    gather(client, futures, stage="features", meter=meter)
    _sweep(features_dir / "items", features_dir / "orders")  # what a worker killed meanwhile left
    write_text(features_dir / _DONE, json.dumps({"shards": len(folders)}) + "\n")
    # One features entry per run folder, as on one machine: other keys' partitions go.
    for other in features_dir.parent.iterdir():
        if other != features_dir and other.is_dir():
            shutil.rmtree(other, ignore_errors=True)
    return items, orders, False


# --- training -------------------------------------------------------------------------------


def train(
    client: Any,
    parts: list[Path],
    folder: RunFolder,
    prefix: str,
    stage_key: str,
    config: RunConfig,
    device: str,
    meter: StageMeter,
    note: Callable[[str, str | None], None],
) -> tuple[dict[str, Any], bool]:
    """Fold models with `xgboost.dask`, cached and published as one process's are.

    The `StageCache` entry is one process's (`basketcast.model.cache`), under
    ``RUN/cache/<prefix>``; the fold rows (rows trained on and validated on,
    best iteration, seconds) are its fold metrics. The model files are staged
    from the entry into ``models/``, so `predict` reads them like any run's.
    """
    from basketcast.distributed.train import train_dask
    from basketcast.model.cache import load_cv_result, model_files, save_cv_result
    from basketcast.model.train import CVResult
    from basketcast.stage_cache import StageCache

    cache = StageCache(folder.cache(prefix))
    result = load_cv_result(cache, prefix=prefix, key=stage_key)
    cached = result is not None
    if result is None:
        note(meter.name, cache.note)
        trained = train_dask(
            client, parts, config=config.model, device=device, progress=meter.message
        )
        # Held-out probabilities are made per shard when scoring, not kept with the models.
        empty = pl.DataFrame(schema={"order_id": pl.Int64, "p": pl.Float32})
        result = CVResult(
            boosters=trained.boosters,
            oof=empty,
            test=empty,
            fold_metrics=pl.DataFrame(trained.fold_rows),
            importance=trained.importance,
            feature_names=trained.feature_names,
            logloss=float("nan"),
            auc=float("nan"),
            params=trained.params,
            n_folds=config.model.folds,
            seed=config.model.seed,
        )
        save_cv_result(result, cache, prefix=prefix, key=stage_key)
    for file in model_files(result, prefix):  # the published models are the entry's files
        folder.link_output(cache.folder / file, f"models/{file}")
    return {
        "boosters": result.boosters,
        "names": result.feature_names,
        "params": result.params,
        "fold_rows": result.fold_metrics.to_dicts(),
        "importance": result.importance,
    }, cached


# --- scoring --------------------------------------------------------------------------------


def score(
    client: Any,
    folders: Sequence[str],
    item_parts: list[Path],
    order_parts: list[Path],
    folder: RunFolder,
    config: RunConfig,
    trained: dict[str, Any],
    meter: StageMeter,
) -> list[dict[str, Any]]:
    """Per shard on the workers: probabilities (oof / test rows), baskets and per-order F1.

    The workers write each shard's probability rows under ``RUN/cache/dask-scores``;
    they are streamed into the staged ``oof.parquet`` and ``predictions.parquet``
    (never all in memory) and then dropped.
    """
    from basketcast.evaluate import DEFAULT_THRESHOLDS

    models = {
        kind: ({f: bytes(b.save_raw("ubj")) for f, b in t["boosters"].items()}, t["names"])
        for kind, t in trained.items()
    }
    shared = client.scatter(models, broadcast=True)
    parts = folder.cache("dask-scores")
    _sweep(parts / "oof", parts / "predictions")
    futures = [
        client.submit(
            tasks.score_shard,
            folders[k],
            str(item_parts[k]),
            str(order_parts[k]) if "none" in trained else None,
            str(parts / "oof" / f"{shard_name(k)}.parquet"),
            str(parts / "predictions" / f"{shard_name(k)}.parquet"),
            models=shared,
            folds=config.model.folds,
            seed=config.model.seed,
            use_none_model=summary.cluster_uses_none_model(config),
            thresholds=DEFAULT_THRESHOLDS,
            key=f"baskets-score-{k}",
        )
        for k in range(len(folders))
    ]
    scored = gather(client, futures, stage="baskets", meter=meter)
    for name in ("oof", "predictions"):
        files = [parts / name / f"{shard_name(k)}.parquet" for k in range(len(folders))]
        with atomic_path(folder.output(f"{name}.parquet")) as tmp:
            pl.scan_parquet(files).sink_parquet(tmp)
    shutil.rmtree(parts, ignore_errors=True)
    return scored
