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

import numpy as np
import polars as pl

from basketcast._meter import StageMeter, StageRecord
from basketcast.config import RunConfig
from basketcast.distributed import tasks
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
            metrics = _metrics(scored, trained, config, info, fingerprint, data, device, started)
        with stage("report"):
            _report(out, folders, config, metrics, scored, trained, records)
        metrics["stages"] = [
            {"name": r.name, "seconds": r.seconds, "peak_rss_mb": r.peak_rss_mb, "cached": r.cached}
            for r in records
        ]
        metrics["cluster"]["worker_peak_rss_mb"] = _worker_peaks(client)
        metrics["cluster"]["tasks"] = _task_costs(client, since=started)
        metrics["cluster"]["workers_at_training"] = workers_back
    write_text(out / "metrics.json", json.dumps(metrics, indent=2, default=_json_default) + "\n")
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


def _worker_peaks(client: Any) -> dict[str, float]:
    """Lifetime peak RSS of every worker process (MiB), by worker address."""

    def peak() -> float:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    return {k: round(v, 1) for k, v in client.run(peak).items()}


def _task_costs(client: Any, *, since: float) -> dict[str, dict[str, float]]:
    """Compute seconds of the run's tasks per kind (key prefix): count, total, mean, max.

    From the scheduler's task stream; what the weak-scaling projection rests on.
    """
    from dask.utils import key_split

    costs: dict[str, list[float]] = {}
    for task in client.get_task_stream(start=since):
        kind = key_split(task.get("key", ""))
        seconds = sum(
            s["stop"] - s["start"]
            for s in task.get("startstops", ())
            if s.get("action") == "compute"
        )
        costs.setdefault(kind, []).append(seconds)
    return {
        kind: {
            "n": len(v),
            "total_s": round(sum(v), 3),
            "mean_s": round(sum(v) / len(v), 3),
            "max_s": round(max(v), 3),
        }
        for kind, v in sorted(costs.items())
    }


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
            use_none_model=config.basket.use_none_model,
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


# --- metrics and report ---------------------------------------------------------------------


def _model_metrics(
    kind: str, scored: list[dict[str, Any]], trained: dict[str, Any]
) -> dict[str, Any]:
    from basketcast.model.metrics import log_loss, roc_auc

    rows = pl.concat([s["scored"][kind] for s in scored])
    y, p = rows["y"].to_numpy(), rows["p"].to_numpy()
    folds = []
    for row in trained["fold_rows"]:
        mine = rows.filter(pl.col("fold") == row["fold"])
        fy, fp = mine["y"].to_numpy(), mine["p"].to_numpy()
        folds.append(row | {"logloss": log_loss(fy, fp), "auc": roc_auc(fy, fp)})
    return {
        "oof_logloss": log_loss(y, p),
        "oof_auc": roc_auc(y, p),
        "folds": folds,
        "features": len(trained["names"]),
    }


def _f1_table(scored: list[dict[str, Any]], seed: int) -> tuple[list[dict[str, Any]], float]:
    """Mean F1 and bootstrap interval per method and subset, from every shard's per-order F1."""
    from basketcast.evaluate import DEFAULT_THRESHOLDS
    from basketcast.evaluate.intervals import bootstrap

    f1 = pl.concat([s["f1"] for s in scored])
    # The threshold baseline keeps the grid's best threshold on the train orders (first on ties).
    prefix = "baseline: personal frequency >= "
    train = f1.filter(pl.col("orders") == "train (out of fold)")
    means = {
        t: train.filter(pl.col("method") == f"{prefix}{t:.2f}")["f1"].mean() or 0.0
        for t in DEFAULT_THRESHOLDS
    }
    best = max(DEFAULT_THRESHOLDS, key=lambda t: (means[t], -t))
    f1 = f1.filter(
        ~pl.col("method").str.starts_with(prefix) | (pl.col("method") == f"{prefix}{best:.2f}")
    )
    methods = list(dict.fromkeys(f1["method"].to_list()))
    subsets = list(dict.fromkeys(f1["orders"].to_list()))
    table = []
    for method in methods:
        for subset in subsets:
            values = f1.filter((pl.col("method") == method) & (pl.col("orders") == subset))[
                "f1"
            ].to_numpy()
            if not values.size:
                continue
            low, high = bootstrap(values, seed=seed)
            table.append(
                {
                    "method": method,
                    "orders": subset,
                    "n": int(values.size),
                    "mean_f1": float(values.mean()),
                    "ci_low": low,
                    "ci_high": high,
                }
            )
    return table, float(best)


def _metrics(
    scored: list[dict[str, Any]],
    trained: dict[str, Any],
    config: RunConfig,
    info: ClusterInfo,
    fingerprint: str,
    data: Path,
    device: str,
    started: float,
) -> dict[str, Any]:
    from basketcast.model import metrics as model_metrics

    table, threshold = _f1_table(scored, config.seed)
    subsets = {r["orders"] for r in table}
    subset = "all last baskets" if "all last baskets" in subsets else "train (out of fold)"
    chosen = "basketcast (p_none = prod(1 - p))"
    if "none" in trained and config.basket.use_none_model:
        chosen = "basketcast (None model)"
    headline = next(r for r in table if r["method"] == chosen and r["orders"] == subset)
    baselines = [r for r in table if r["method"].startswith("baseline") and r["orders"] == subset]
    items = pl.concat([s["scored"]["item"] for s in scored])
    y, p = items["y"].to_numpy(), items["p"].to_numpy()
    calibration = (
        model_metrics.calibration_table(y, p)
        .filter(pl.col("count") > 0)
        .select(p_mean="mean_p", y_mean="mean_y", n="count")
    )
    return {
        "run_id": f"{fingerprint}-{config.stage_hash()}",
        "config_hash": config.stage_hash(),
        "data_fingerprint": fingerprint,
        "data": str(data),
        "device": device,
        "folds": config.model.folds,
        "folds_covered": list(config.model.folds_to_train),
        "item_model": _model_metrics("item", scored, trained["item"]),
        "none_model": _model_metrics("none", scored, trained["none"])
        if "none" in trained
        else None,
        "f1": {
            "method": chosen,
            **headline,
            "best_baseline": max(baselines, key=lambda r: r["mean_f1"]),
        },
        "f1_table": table,
        "frequency_threshold": threshold,
        "calibration_ece": model_metrics.expected_calibration_error(y, p) if len(y) else None,
        "calibration": calibration.to_dicts(),
        "cluster": info.to_dict(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
    }


def _report(
    out: Path,
    folders: Sequence[str],
    config: RunConfig,
    metrics: dict[str, Any],
    scored: list[dict[str, Any]],
    trained: dict[str, Any],
    records: list[StageRecord],
) -> None:
    from basketcast.data.load import load_dataset
    from basketcast.report import ReportInputs, write_report

    folds = [
        pl.DataFrame(metrics[f"{kind}_model"]["folds"]).with_columns(model=pl.lit(kind))
        for kind in trained
    ]
    baskets = pl.concat([s["baskets"] for s in scored])
    sizes = baskets.get_column("products").map_elements(
        lambda s: len([t for t in s.split() if t != "None"]), return_dtype=pl.Int64
    )
    f1, cluster = metrics["f1"], metrics["cluster"]
    inputs = ReportInputs(
        title="basketcast run (Dask cluster)",
        summary=[
            ("run id", metrics["run_id"]),
            ("data", metrics["data"]),
            (
                "cluster",
                f"{cluster['workers']} workers, threads {cluster['threads']}, {cluster['scheduler']}",
            ),
            ("shards", f"{len(folders)}"),
            ("device", metrics["device"]),
            (
                "folds trained",
                ", ".join(map(str, metrics["folds_covered"])) + f" of {metrics['folds']}",
            ),
            ("mean F1", f"{f1['mean_f1']:.4f} ({f1['method']}, {f1['orders']}, n={f1['n']:,})"),
            (
                "best baseline",
                f"{f1['best_baseline']['mean_f1']:.4f} ({f1['best_baseline']['method']})",
            ),
        ],
        f1_table=pl.DataFrame(metrics["f1_table"]).select(
            "method", "orders", "mean_f1", "ci_low", "ci_high"
        ),
        fold_metrics=pl.concat(folds, how="diagonal_relaxed"),
        importance=trained["item"]["importance"],
        calibration=pl.DataFrame(metrics["calibration"]) if metrics["calibration"] else None,
        basket_sizes=sizes,
        stages=list(records),
        config_toml=config.to_toml(),
        notes=[
            f"Computed on a Dask cluster: {cluster['note']} The exploration section describes "
            f"shard 0 of {len(folders)} (a hash sample of the users), not the whole data set."
        ],
    )
    write_report(out / "report.html", dataset=load_dataset(folders[0]), inputs=inputs)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value)}")
