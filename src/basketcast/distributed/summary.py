"""What a cluster run reports: metrics.json's model and F1 tables, p(None), the cluster's costs, report.html."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from basketcast._meter import StageRecord
from basketcast.config import ConfigError, PNone, RunConfig
from basketcast.distributed.cluster import ClusterInfo

__all__ = [
    "check_cluster_config",
    "cluster_uses_none_model",
    "json_default",
    "metrics",
    "task_costs",
    "worker_peaks",
    "write_report",
]


def check_cluster_config(config: RunConfig) -> None:
    """Refuse what the cluster path cannot do yet, before anything runs.

    The out-of-fold choice of p(None) (`basket.p_none`), the stacked None
    model and bagging are single-machine only; ``auto`` on a cluster uses the None model
    (the default before ``p_none``).
    """

    if config.basket.p_none is PNone.BLEND:
        raise ConfigError('basket.p_none = "blend" is not supported with [cluster] yet')
    if config.model.stack_none:
        raise ConfigError("model.stack_none is not supported with [cluster] yet")
    if config.model.bagging != 1:  # the cluster trains one booster per fold
        raise ConfigError("model.bagging > 1 is not supported with [cluster] yet")


def cluster_uses_none_model(config: RunConfig) -> bool:
    """Whether a cluster run's baskets take p(None) from the None model (auto: yes)."""

    return config.basket.p_none in (PNone.AUTO, PNone.MODEL)


def worker_peaks(client: Any) -> dict[str, float]:
    """Lifetime peak RSS of every worker process (MiB), by worker address."""

    def peak() -> float:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    return {k: round(v, 1) for k, v in client.run(peak).items()}


def task_costs(client: Any, *, since: float) -> dict[str, dict[str, float]]:
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


def _p_none_info(
    table: list[dict[str, Any]], config: RunConfig, *, has_none: bool
) -> dict[str, Any]:
    """The run's p(None) source in `choose_p_none`'s layout (published as models/p_none.json).

    A cluster run does not choose (``auto`` means the None model there); the
    out-of-fold F1 of the sources it computed are recorded beside the choice.
    """
    chosen = PNone.MODEL if has_none and cluster_uses_none_model(config) else PNone.INDEPENDENT
    methods = {
        PNone.MODEL.value: "basketcast (None model)",
        PNone.INDEPENDENT.value: "basketcast (p_none = prod(1 - p))",
    }
    rows = {r["method"]: r for r in table if r["orders"] == "train (out of fold)"}
    figures = {k: rows[m]["mean_f1"] for k, m in methods.items() if m in rows}
    orders = max((rows[m]["n"] for m in methods.values() if m in rows), default=0)
    return {
        "requested": config.basket.p_none.value,
        "chosen": chosen.value,
        "orders": orders,
        "oof_f1": figures,
    }


def metrics(
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
    if "none" in trained and cluster_uses_none_model(config):
        chosen = "basketcast (None model)"
    headline = next(r for r in table if r["method"] == chosen and r["orders"] == subset)
    p_none = _p_none_info(table, config, has_none="none" in trained)
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
        "p_none": p_none,
        "f1_table": table,
        "frequency_threshold": threshold,
        "calibration_ece": model_metrics.expected_calibration_error(y, p) if len(y) else None,
        "calibration": calibration.to_dicts(),
        "cluster": info.to_dict(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
    }


def write_report(
    path: Path,
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
            ("invocation id", metrics["invocation_id"]),
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
            f"shard 0 of {len(folders)} (a hash sample of the users), not the whole data set.",
            *metrics.get("notes", []),
        ],
    )
    write_report(path, dataset=load_dataset(folders[0]), inputs=inputs)


def json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value)}")
