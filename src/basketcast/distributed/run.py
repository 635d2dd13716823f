"""A whole run on a Dask cluster: shard → statistics (map-reduce) → features → models → scoring.

The stages and outputs of `basketcast.pipeline.run`, computed where the data
is: each shard's features, probabilities, baskets and per-order F1 are made
on a worker and written there; the client holds the small tables only (the
combined statistics, the models, the per-order F1 values, the submission).

Resuming: every per-shard output is written atomically and a stage's
``done.json`` last, so a rerun after a crash (or a worker lost beyond the
scheduler's retries) reuses the finished stages and, within the features
stage, the shards already written. A worker killed mid-task loses nothing
that was read later: its half-written file is a hidden temporary file that
nothing reads, and the scheduler reruns the task elsewhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl

from basketcast._meter import StageMeter, StageRecord
from basketcast.config import RunConfig
from basketcast.distributed import summary, tasks
from basketcast.distributed.cluster import ClusterInfo, connect
from basketcast.distributed.shard import ShardManifest, read_manifest, shard_dataset, shard_name
from basketcast.features.stats import FittedStats
from basketcast.io import write_frame, write_text

__all__ = ["ClusterError", "run_on_cluster"]

Progress = Callable[[str, str], None]
_DONE = "done.json"


class ClusterError(RuntimeError):
    """A stage could not finish on the cluster (e.g. workers kept dying); finished stages are kept."""


def _key(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _gather(client: Any, futures: list[Any], *, stage: str, meter: StageMeter) -> list[Any]:
    """Results in submission order, with per-shard progress; worker errors as client errors."""
    from distributed.scheduler import KilledWorker

    from distributed import as_completed

    done = 0
    try:
        for _future in as_completed(futures):
            done += 1
            meter.message(f"{done}/{len(futures)} shards")
        return list(client.gather(futures))
    except KilledWorker as exc:
        raise ClusterError(
            f"{stage}: a task's workers died {exc.args[0] if exc.args else ''} more times than the "
            "scheduler retries (distributed.scheduler.allowed-failures); the finished stages and "
            "shards are saved: run the same command again to resume"
        ) from exc
    except tasks.ShippedDataError as exc:
        raise exc.to_data_error() from None


def run_on_cluster(
    data: str | Path,
    out: str | Path,
    *,
    config: RunConfig,
    progress: Progress | None = None,
) -> Any:
    """`basketcast.pipeline.run` on the cluster of ``config.cluster``; returns its `RunResult`."""
    from basketcast.pipeline import STATS_DIR, RunResult, data_fingerprint

    summary.check_cluster_config(config)
    data, out = Path(data), Path(out)
    records: list[StageRecord] = []
    report = progress or (lambda stage, event: None)

    def stage(name: str) -> StageMeter:
        return StageMeter(name, records=records, progress=progress)

    started = time.time()
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "config.toml", config.to_toml())
    with connect(config.cluster) as (client, info):
        report("cluster", info.summary())
        client.get_task_stream(start=time.time())  # registers the scheduler's task-stream plugin
        with stage("shard") as meter:
            manifest, shards_dir, meter.cached = _shards(data, out, config, info, data_fingerprint)
        fingerprint = manifest.fingerprint
        folders = [str(f) for f in manifest.folders(shards_dir)]
        features_dir = (
            out
            / "features"
            / f"dask-{_key(fingerprint, config.stage_hash('features'), str(manifest.shards))}"
        )
        with stage("statistics") as meter:
            stats, meter.cached = _statistics(client, folders, features_dir, config, meter)
        with stage("features") as meter:
            item_parts, order_parts, meter.cached = _features(
                client, folders, features_dir, config, stats, meter
            )
            # `basketcast predict RUN` transforms new users with the depth-0 statistics.
            replace(stats[0], fingerprint=fingerprint, key=features_dir.name).save(out / STATS_DIR)
        # Training spreads the rows over the workers present, and the model depends on how they
        # are spread: wait for a worker lost earlier (a nanny restarts it) so a retried run
        # trains on the same layout as an undisturbed one.
        workers_back = _wait_for_workers(client, info.workers)
        device = client.submit(_resolve_device, str(config.model.device), pure=False).result()
        model_key = _key(
            fingerprint, config.stage_hash("features", "model"), str(config.seed), "dask"
        )
        trained: dict[str, Any] = {}
        with stage("item model") as meter:
            trained["item"], meter.cached = _train(
                client, item_parts, out, "item", model_key, config, device, meter
            )
        if config.model.none_model:
            with stage("none model") as meter:
                trained["none"], meter.cached = _train(
                    client, order_parts, out, "none", model_key, config, device, meter
                )
        with stage("baskets") as meter:
            scored = _score(client, folders, item_parts, order_parts, out, config, trained, meter)
            submission = (
                pl.concat([s["submission"] for s in scored])
                .sort("order_id")
                .select("order_id", "products")
            )
            write_frame(submission, out / "submission.csv")
        with stage("evaluate"):
            metrics = summary.metrics(
                scored, trained, config, info, fingerprint, data, device, started
            )
        with stage("report"):
            summary.write_report(out, folders, config, metrics, scored, trained, records)
        metrics["stages"] = [
            {"name": r.name, "seconds": r.seconds, "peak_rss_mb": r.peak_rss_mb, "cached": r.cached}
            for r in records
        ]
        metrics["cluster"]["worker_peak_rss_mb"] = summary.worker_peaks(client)
        metrics["cluster"]["tasks"] = summary.task_costs(client, since=started)
        metrics["cluster"]["workers_at_training"] = workers_back
    write_text(
        out / "metrics.json", json.dumps(metrics, indent=2, default=summary.json_default) + "\n"
    )
    return RunResult(out=out, metrics=metrics, submission=submission, stages=records)


def _wait_for_workers(client: Any, count: int, *, timeout: float = 120.0) -> int:
    """Wait up to `timeout` s for `count` workers; the number present when training starts."""
    # On a timeout, train on those present: the run still completes, on another layout.
    with contextlib.suppress(TimeoutError):
        client.wait_for_workers(count, timeout=timeout)
    return len(client.scheduler_info(n_workers=-1)["workers"])


def _resolve_device(device: str) -> str:
    from basketcast.device import resolve_device

    return resolve_device(device)


# --- stages ---------------------------------------------------------------------------------


def _shards(
    data: Path,
    out: Path,
    config: RunConfig,
    info: ClusterInfo,
    fingerprint_of: Callable[[Path], str],
) -> tuple[ShardManifest, Path, bool]:
    """The input's user shards: `data` itself when it is a sharded folder, else RUN/shards/."""
    manifest = read_manifest(data)
    if manifest is not None:
        return manifest, data, True
    count = config.cluster.shards or 4 * max(info.workers, 1)
    fingerprint = fingerprint_of(data)
    target = out / "shards"
    before = read_manifest(target)
    manifest = shard_dataset(data, target, shards=count, fingerprint=fingerprint)
    return manifest, target, before == manifest


def _stats_dir(folder: Path, depth: int) -> Path:
    return folder / "stats" / f"depth-{depth}"


def _load_stats(folder: Path, depths: int) -> list[FittedStats] | None:
    """Every depth's statistics when a previous run finished this stage, else None."""
    if not (folder / "stats" / _DONE).exists():
        return None
    return [FittedStats.load(_stats_dir(folder, d)) for d in range(depths)]


def _statistics(
    client: Any,
    folders: Sequence[str],
    features_dir: Path,
    config: RunConfig,
    meter: StageMeter,
) -> tuple[list[FittedStats], bool]:
    """Validate every shard and map-reduce the families' shared statistics (one reduce per depth)."""
    depths = config.features.history_targets + 1
    saved = _load_stats(features_dir, depths)
    if saved is not None:
        return saved, True
    futures = [
        client.submit(
            tasks.shard_partials, folder, config=config.features, key=f"statistics-map-{k}"
        )
        for k, folder in enumerate(folders)
    ]
    _gather(client, futures, stage="statistics", meter=meter)
    reduced = [
        client.submit(_combine_depth, futures, depth, key=f"statistics-reduce-{depth}")
        for depth in range(depths)
    ]
    stats: list[FittedStats] = _gather(client, reduced, stage="statistics", meter=meter)
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


def _features(
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
    shared = client.scatter(stats, broadcast=True)
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
            stats=shared,
            key=f"features-transform-{k}",
        )
        for k in todo
    ]
    _gather(client, futures, stage="features", meter=meter)
    write_text(features_dir / _DONE, json.dumps({"shards": len(folders)}) + "\n")
    return items, orders, False


def _train(
    client: Any,
    parts: list[Path],
    out: Path,
    prefix: str,
    key: str,
    config: RunConfig,
    device: str,
    meter: StageMeter,
) -> tuple[dict[str, Any], bool]:
    """Fold models with `xgboost.dask`, saved like the single machine's (so `predict` reads them)."""
    import xgboost as xgb

    from basketcast.distributed.train import train_dask
    from basketcast.model.predict import load_manifest, load_models, save_models
    from basketcast.model.train import CVResult

    folder = out / "models"
    stage_file = folder / f"{prefix}_dask_stage.json"
    if stage_file.exists() and json.loads(stage_file.read_text()).get("key") == key:
        manifest = load_manifest(folder, prefix=prefix)
        saved = json.loads(stage_file.read_text())
        return {
            "boosters": load_models(folder, prefix=prefix),
            "names": list(manifest["feature_names"]),
            "params": dict(manifest.get("params", {})),
            "fold_rows": saved["fold_rows"],
            "importance": pl.read_parquet(folder / f"{prefix}_importance.parquet"),
        }, True
    stage_file.unlink(missing_ok=True)
    # A single-machine stage in the same folder stops counting: its models are replaced.
    (folder / f"{prefix}_stage.json").unlink(missing_ok=True)
    trained = train_dask(client, parts, config=config.model, device=device, progress=meter.message)
    empty = pl.DataFrame()
    result = CVResult(
        boosters=trained.boosters,
        oof=empty,
        test=empty,
        fold_metrics=pl.DataFrame(trained.fold_rows).select("fold", "best_iteration"),
        importance=trained.importance,
        feature_names=trained.feature_names,
        logloss=float("nan"),
        auc=float("nan"),
        params=trained.params,
        n_folds=config.model.folds,
        seed=config.model.seed,
    )
    save_models(result, folder, prefix=prefix)
    write_frame(trained.importance, folder / f"{prefix}_importance.parquet")
    write_text(
        stage_file, json.dumps({"key": key, "fold_rows": trained.fold_rows}, indent=2) + "\n"
    )
    del xgb
    return {
        "boosters": trained.boosters,
        "names": trained.feature_names,
        "params": trained.params,
        "fold_rows": trained.fold_rows,
        "importance": trained.importance,
    }, False


def _score(
    client: Any,
    folders: Sequence[str],
    item_parts: list[Path],
    order_parts: list[Path],
    out: Path,
    config: RunConfig,
    trained: dict[str, Any],
    meter: StageMeter,
) -> list[dict[str, Any]]:
    """Per shard on the workers: probabilities (oof / test rows), baskets and per-order F1."""
    from basketcast.evaluate import DEFAULT_THRESHOLDS

    models = {
        kind: ({f: bytes(b.save_raw("ubj")) for f, b in t["boosters"].items()}, t["names"])
        for kind, t in trained.items()
    }
    shared = client.scatter(models, broadcast=True)
    parts = out / "parts"
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
    scored = _gather(client, futures, stage="baskets", meter=meter)
    # One file each, as on the single machine: streamed part by part, never all in memory.
    for name in ("oof", "predictions"):
        files = [parts / name / f"{shard_name(k)}.parquet" for k in range(len(folders))]
        from basketcast.io import atomic_path

        with atomic_path(out / f"{name}.parquet") as tmp:
            pl.scan_parquet(files).sink_parquet(tmp)
    return scored
