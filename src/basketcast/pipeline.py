"""The only place that wires the stages together.

validate → features → item model → None model → baskets → evaluate → report.
With ``model.stack_none`` the None model is stacked on the item model: its
order rows carry summaries of the item model's out-of-fold probabilities
(`basketcast.model.stacking`). The baskets take p(None) from the source
`basket.p_none` names, or, for ``auto``, the one with the best out-of-fold
F1 (`basketcast.model.p_none`); the choice is published as
``models/p_none.json``, which `predict` follows.
Each expensive stage is cached under the run folder (``cache/<stage>``, a
self-checking `StageCache` entry), keyed by a fingerprint of its inputs and of
its part of the configuration, so re-running with the same inputs and
configuration reuses finished stages; a damaged entry is recomputed, with a
note. The run folder's life cycle (lock, staged outputs published together,
manifest, invocation id) is `basketcast.runfolder`'s.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import polars as pl

from basketcast._fault import fault_point
from basketcast._meter import StageMeter, StageRecord
from basketcast.cached_stages import cached_features, cached_training, stage_key
from basketcast.config import AUTO_MODEL_PARAMS, PNone, RunConfig
from basketcast.data.dataset import Dataset
from basketcast.data.load import find_tables, load_dataset
from basketcast.device import resolve_device
from basketcast.evaluate import scoring, truth_from_dataset
from basketcast.inference import P_NONE_FILE, STATS_DIR, predict, predict_probabilities
from basketcast.io import write_frame, write_text
from basketcast.model.p_none import choose_p_none
from basketcast.model.stacking import stack_orders
from basketcast.model.train import CVResult
from basketcast.run_checks import (
    check_run_inputs,
    complete_orders,
    thread_note,
)
from basketcast.runfolder import (
    RunFolder,
    check_writable,
    open_run_folder,
)

__all__ = ["STATS_DIR", "RunResult", "data_fingerprint", "predict", "predict_probabilities", "run"]

Progress = Callable[[str, str], None]
"""progress(stage, event): event is "start", "done", "cached", or a message."""

STAGES = ("validate", "features", "item model", "none model", "baskets", "evaluate", "report")


@dataclass
class RunResult:
    """What a run produced: its folder, metrics and the submission."""

    out: Path
    metrics: dict[str, Any]
    submission: pl.DataFrame
    stages: list[StageRecord] = field(default_factory=list)


def data_fingerprint(folder: str | Path) -> str:
    """A hash of the input tables' names and bytes (and of truth.csv when present)."""
    digest = hashlib.sha256()
    paths = sorted(find_tables(folder).values())
    truth = Path(folder) / "truth.csv"
    if truth.exists():
        paths.append(truth)
    for path in paths:
        digest.update(path.name.encode())
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def run(
    data: str | Path,
    out: str | Path,
    *,
    config: RunConfig | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Validate, engineer features, train, choose baskets, evaluate and report.

    Publishes into `out`, all together when the run completes (see
    `basketcast.runfolder`): config.toml, stats/ (the depth-0 fitted feature
    statistics), models/, oof.parquet, predictions.parquet, submission.csv,
    metrics.json, report.html and the manifest run.json. Stage caches live in
    ``out/cache``. The folder is locked for the whole run. With `config.cluster.address` set,
    the run goes to `basketcast.distributed` instead.
    """
    config = config or RunConfig()
    if config.cluster.address:  # the Dask path (the `dask` extra); nothing else here imports it
        from basketcast.distributed import run_on_cluster

        return cast(RunResult, run_on_cluster(data, out, config=config, progress=progress))
    data, out = Path(data), Path(out)
    records: list[StageRecord] = []
    notes: list[str] = []

    def stage(name: str) -> StageMeter:
        return StageMeter(name, records=records, progress=progress)

    def note(stage_name: str, text: str | None) -> None:
        if text:
            notes.append(text)
            if progress is not None:
                progress(stage_name, f"warning: {text}")

    started = time.time()
    check_writable(out)  # a wrong --out is said at once, not after validating the data
    with stage("validate"):
        dataset = load_dataset(data)
        fingerprint = data_fingerprint(data)
        check_run_inputs(dataset, data, config)
        note("validate", thread_note(config.threads))
        requested_targets = config.features.history_targets
        requested_params = {k: getattr(config.model, k) for k in AUTO_MODEL_PARAMS}
        config = config.resolved(users=dataset.n_users)  # config.toml records the numbers used
        history_targets = {
            "requested": requested_targets,
            "used": config.features.targets,
            "users": dataset.n_users,
        }
        used_params = {k: getattr(config.model, k) for k in AUTO_MODEL_PARAMS}
        model_parameters = {
            "requested": requested_params,
            "used": used_params,
            "users": dataset.n_users,
        }
        if progress is not None and requested_targets == "auto":
            progress("validate", f"history targets: auto -> {config.features.targets} "
                     f"for {dataset.n_users:,} users")  # fmt: skip
        if progress is not None and "auto" in requested_params.values():
            chosen = ", ".join(
                f"{k} {used_params[k]}" for k, v in requested_params.items() if v == "auto"
            )
            progress(
                "validate", f"model parameters: auto -> {chosen} for {dataset.n_users:,} users"
            )
    # Bad input is found before the run folder is made or locked: it is never touched.
    with open_run_folder(out) as folder:
        fault_point("stage:validate")
        write_text(folder.output("config.toml"), config.to_toml())

        with stage("features") as meter:
            frames, meter.cached = cached_features(dataset, folder, fingerprint, config, note)
        fault_point("stage:features")

        device = resolve_device(config.model.device)
        model_key = stage_key(fingerprint, config.stage_hash("features", "model"), str(config.seed))
        item_frame, order_frame = frames.items, frames.orders
        del frames  # the candidate frame is the largest object of a run: let it go after training
        with stage("item model") as meter:
            items, meter.cached = cached_training(
                item_frame, folder, "item", model_key, config, device, meter, note
            )
        del item_frame
        fault_point("stage:item model")
        none_result: CVResult | None = None
        if config.model.none_model:
            with stage("none model") as meter:
                none_key = model_key
                if config.model.stack_none:
                    # Out-of-fold item p for labelled orders, fold-averaged p for test orders.
                    item_p = pl.concat([r.select("order_id", "p") for r in (items.oof, items.test)])
                    order_frame = stack_orders(order_frame, item_p)
                    none_key = stage_key(model_key, "stacked-v1")
                none_result, meter.cached = cached_training(
                    order_frame, folder, "none", none_key, config, device, meter, note
                )
            fault_point("stage:none model")

        with stage("baskets"):
            oof, predictions = _probability_tables(items, none_result)
            write_frame(oof, folder.output("oof.parquet"))
            write_frame(predictions, folder.output("predictions.parquet"))
            oof_items, oof_none = scoring.split_probabilities(oof)
            choice, p_none_info = choose_p_none(
                oof_items, oof_none, truth_from_dataset(dataset), requested=config.basket.p_none
            )
            # Published with the models (run.json covers it): `predict` follows the same choice.
            p_none_text = json.dumps(p_none_info, indent=2) + "\n"
            write_text(folder.output(f"models/{P_NONE_FILE}"), p_none_text)
            submission = complete_orders(
                _baskets(predictions, choice=choice).select("order_id", "products"),
                dataset, orders="test",
            )  # fmt: skip
            write_frame(submission, folder.output("submission.csv"))
        fault_point("stage:baskets")

        with stage("evaluate"):
            scores = scoring.evaluate_run(
                dataset,
                data,
                oof,
                predictions,
                seed=config.seed,
                has_none=none_result is not None,
                choice=choice,
            )
        fault_point("stage:evaluate")

        metrics = {
            "run_id": f"{fingerprint}-{config.stage_hash()}",
            "invocation_id": folder.invocation_id,
            "config_hash": config.stage_hash(),
            "data_fingerprint": fingerprint,
            # Absolute: `serve`, `report` and `importance` find the data from any folder.
            "data": str(Path(data).resolve()),
            "device": device,
            "folds": config.model.folds,
            "folds_covered": list(config.model.folds_to_train),
            "history_targets": history_targets,
            "model_parameters": model_parameters,
            "item_model": _model_metrics(items),
            "none_model": _model_metrics(none_result) if none_result else None,
            "p_none": p_none_info,
            **scores,
            "notes": notes,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
        }
        with stage("report"):
            _report(folder, dataset, config, metrics, items, none_result, oof, predictions, records)
        fault_point("stage:report")
        metrics["stages"] = [
            {"name": r.name, "seconds": r.seconds, "peak_rss_mb": r.peak_rss_mb, "cached": r.cached}
            for r in records
        ]
        text = json.dumps(metrics, indent=2, default=_json_default) + "\n"
        write_text(folder.output("metrics.json"), text)
        folder.publish(extra={"run_id": metrics["run_id"], "data_fingerprint": fingerprint})
    return RunResult(out=out, metrics=metrics, submission=submission, stages=records)


# --- stages -----------------------------------------------------------------------------------


_PROBABILITY_COLUMNS = ("order_id", "user_id", "product_id", "depth", "fold", "p", "kind")


def _probability_rows(frame: pl.DataFrame, kind: str) -> pl.DataFrame:
    """A CVResult's oof or test rows in the layout of oof.parquet / predictions.parquet."""
    if "fold" not in frame.columns:  # test rows: the mean over every fold model
        frame = frame.with_columns(fold=pl.lit(-1))
    if "product_id" not in frame.columns:  # None model rows: one per order
        frame = frame.with_columns(product_id=pl.lit(None, pl.Int64))
    return frame.with_columns(pl.col("fold").cast(pl.Int8), kind=pl.lit(kind)).select(
        _PROBABILITY_COLUMNS
    )


def _probability_tables(
    items: CVResult, none: CVResult | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """oof / predictions: one row per candidate with p, plus one row per order with p_none."""
    results = {"item": items} | ({"none": none} if none is not None else {})
    oof = pl.concat([_probability_rows(r.oof, kind) for kind, r in results.items()])
    predictions = pl.concat([_probability_rows(r.test, kind) for kind, r in results.items()])
    order = ("kind", "order_id", "product_id")
    return oof.sort(order), predictions.sort(order)


def _baskets(probabilities: pl.DataFrame, *, choice: PNone) -> pl.DataFrame:
    """F1-optimal baskets of the depth-0 orders in a probability table, p(None) from ``choice``."""
    return scoring.baskets_of(probabilities, choice=choice)


def _model_metrics(result: CVResult) -> dict[str, Any]:
    return {
        "oof_logloss": result.logloss,
        "oof_auc": result.auc,
        "folds": result.fold_metrics.to_dicts(),
        "features": len(result.feature_names),
    }


def _report(
    folder: RunFolder,
    dataset: Dataset,
    config: RunConfig,
    metrics: dict[str, Any],
    items: CVResult,
    none: CVResult | None,
    oof: pl.DataFrame,
    predictions: pl.DataFrame,
    records: list[StageRecord],
) -> None:
    from basketcast.report import ReportInputs, write_report

    folds = [items.fold_metrics.with_columns(model=pl.lit("item"))]
    if none is not None:
        folds.append(none.fold_metrics.with_columns(model=pl.lit("none")))
    table = pl.DataFrame(metrics["f1_table"])
    sizes = predictions if predictions.height else oof
    baskets = _baskets(sizes, choice=PNone(metrics["p_none"]["chosen"]))
    basket_sizes = baskets.get_column("products").map_elements(
        lambda s: len([t for t in s.split() if t != "None"]), return_dtype=pl.Int64
    )
    f1 = metrics["f1"]
    inputs = ReportInputs(
        title="basketcast run",
        summary=[
            ("run id", metrics["run_id"]),
            ("invocation id", metrics["invocation_id"]),
            ("data", metrics["data"]),
            ("users", f"{dataset.n_users:,}"),
            ("device", metrics["device"]),
            (
                "folds trained",
                ", ".join(map(str, metrics["folds_covered"])) + f" of {metrics['folds']}",
            ),
            ("mean F1", f"{f1['mean_f1']:.4f} ({f1['method']}, {f1['orders']}, n={f1['n']:,})"),
            (
                "p(None)",
                f"{metrics['p_none']['chosen']} (basket.p_none = {metrics['p_none']['requested']})",
            ),
            (
                "best baseline",
                f"{f1['best_baseline']['mean_f1']:.4f} ({f1['best_baseline']['method']})",
            ),
        ],
        f1_table=table.select("method", "orders", "mean_f1", "ci_low", "ci_high"),
        fold_metrics=pl.concat(folds, how="diagonal_relaxed"),
        importance=items.importance,
        calibration=pl.DataFrame(metrics["calibration"]) if metrics["calibration"] else None,
        basket_sizes=basket_sizes,
        stages=list(records),
        config_toml=config.to_toml(),
        notes=list(metrics["notes"]),
        paired=metrics["paired"],
        nbr_metrics=metrics["nbr_metrics"],
        paired_nbr=metrics["paired_nbr"],
        run_dir=folder.root,  # its explanations/ (basketcast importance), if any
        run_id=metrics["run_id"],
    )
    write_report(folder.output("report.html"), dataset=dataset, inputs=inputs)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value)}")
