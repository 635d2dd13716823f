"""The only place that wires the stages together.

validate → features → item model → None model → baskets → evaluate → report.
With ``model.stack_none`` the None model is stacked on the item model: its
order rows carry summaries of the item model's out-of-fold probabilities
(`basketcast.model.stacking`). The baskets take p(None) from the source
`basket.p_none` names, or, for ``auto``, the one with the best out-of-fold
F1 (`basketcast.model.p_none`).
Each expensive stage is cached under the run folder, keyed by a fingerprint
of its inputs and of its part of the configuration, so re-running with the
same inputs and configuration reuses finished stages. Every output is
written atomically.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from basketcast._meter import StageMeter, StageRecord
from basketcast.basket import select_baskets
from basketcast.basket.p_none import p_none_values
from basketcast.config import PNone, RunConfig
from basketcast.data.dataset import Dataset
from basketcast.data.load import find_tables, load_dataset
from basketcast.device import polars_engine, resolve_device
from basketcast.evaluate import scoring, truth_from_dataset
from basketcast.features.build import FeatureFrames, build_features, transform_users
from basketcast.features.stats import FittedStats
from basketcast.io import write_frame, write_text
from basketcast.model.cache import load_cv_result, save_cv_result
from basketcast.model.p_none import choose_p_none
from basketcast.model.stacking import stack_orders
from basketcast.model.train import CVResult, train_cv

__all__ = ["STATS_DIR", "RunResult", "data_fingerprint", "predict", "predict_probabilities", "run"]

Progress = Callable[[str, str], None]
"""progress(stage, event): event is "start", "done", "cached", or a message."""

STATS_DIR = "stats"
"""Where a run keeps its depth-0 fitted feature statistics (`FittedStats.save`)."""

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

    Writes into `out`: config.toml, features/, stats/ (the depth-0 fitted
    feature statistics), models/, oof.parquet, predictions.parquet,
    submission.csv, metrics.json, report.html.
    """
    config = config or RunConfig()
    data, out = Path(data), Path(out)
    records: list[StageRecord] = []

    def stage(name: str) -> StageMeter:
        return StageMeter(name, records=records, progress=progress)

    started = time.time()

    with stage("validate"):
        dataset = load_dataset(data)
        fingerprint = data_fingerprint(data)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "config.toml", config.to_toml())

    with stage("features") as meter:
        frames, meter.cached = _features(dataset, out, fingerprint, config)

    device = resolve_device(config.model.device)
    model_key = _key(fingerprint, config.stage_hash("features", "model"), str(config.seed))
    item_frame, order_frame = frames.items, frames.orders
    del frames  # the candidate frame is the largest object of a run: let it go after training
    with stage("item model") as meter:
        items, meter.cached = _train(item_frame, out, "item", model_key, config, device, meter)
    del item_frame
    none_result: CVResult | None = None
    if config.model.none_model:
        with stage("none model") as meter:
            none_key = model_key
            if config.model.stack_none:
                # Out-of-fold item p for labelled orders, fold-averaged p for test orders.
                item_p = pl.concat([r.select("order_id", "p") for r in (items.oof, items.test)])
                order_frame = stack_orders(order_frame, item_p)
                none_key = _key(model_key, "stacked-v1")
            none_result, meter.cached = _train(
                order_frame, out, "none", none_key, config, device, meter
            )

    with stage("baskets"):
        oof, predictions = _probability_tables(items, none_result)
        write_frame(oof, out / "oof.parquet")
        write_frame(predictions, out / "predictions.parquet")
        oof_items, oof_none = scoring.split_probabilities(oof)
        choice, p_none_info = choose_p_none(
            oof_items, oof_none, truth_from_dataset(dataset), requested=config.basket.p_none
        )
        submission = _baskets(predictions, choice=choice).select("order_id", "products")
        write_frame(submission, out / "submission.csv")
        write_text(out / "models" / "p_none.json", json.dumps(p_none_info, indent=2) + "\n")

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

    metrics = {
        "run_id": f"{fingerprint}-{config.stage_hash()}",
        "config_hash": config.stage_hash(),
        "data_fingerprint": fingerprint,
        "data": str(data),
        "device": device,
        "folds": config.model.folds,
        "folds_covered": list(config.model.folds_to_train),
        "item_model": _model_metrics(items),
        "none_model": _model_metrics(none_result) if none_result else None,
        "p_none": p_none_info,
        **scores,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
    }
    with stage("report"):
        _report(out, dataset, config, metrics, items, none_result, oof, predictions, records)
    metrics["stages"] = [
        {"name": r.name, "seconds": r.seconds, "peak_rss_mb": r.peak_rss_mb, "cached": r.cached}
        for r in records
    ]
    write_text(out / "metrics.json", json.dumps(metrics, indent=2, default=_json_default) + "\n")
    return RunResult(out=out, metrics=metrics, submission=submission, stages=records)


def predict(run_dir: str | Path, data: str | Path, out: str | Path) -> pl.DataFrame:
    """Baskets for every target order in `data` from the models a run saved; no retraining.

    Writes the submission CSV `out` and returns it. See `predict_probabilities`.
    """
    probs, p_none = predict_probabilities(run_dir, data)
    submission = select_baskets(probs.select("order_id", "product_id", "p"), p_none)
    submission = submission.select("order_id", "products")
    write_frame(submission, out)
    return submission


def predict_probabilities(
    run_dir: str | Path, data: str | Path, *, p_none: PNone | None = None
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Probabilities for every candidate of the target orders in `data`, from a saved run.

    Features are computed with the statistics the run fitted (``run_dir/stats``),
    never refitted on `data`: a user's probabilities do not depend on which
    other users `data` holds.

    Returns
    -------
    (pl.DataFrame, pl.DataFrame or None)
        ``order_id, user_id, product_id, p`` (the mean over fold models), and
        ``order_id, p_none`` from the p(None) source the run chose
        (``models/p_none.json``; ``p_none`` overrides it), or None for
        prod(1 - p). The None model reads the item probabilities above
        (fold-averaged), as it did for the run's test orders.

    Raises
    ------
    StatsError
        When `run_dir` has no saved statistics (a run from before they were saved).
    """
    from basketcast.config import load_config
    from basketcast.model.predict import load_manifest, load_models, predict_frame

    run_dir = Path(run_dir)
    models = run_dir / "models"
    if not (models / "item_models.json").exists():
        raise FileNotFoundError(f"{models}: no item models saved (is {run_dir} a finished run?)")
    stats = FittedStats.load(run_dir / STATS_DIR)
    config = load_config(run_dir / "config.toml")
    frames = transform_users(load_dataset(data), stats, config=config.features)

    def probabilities(frame: pl.DataFrame, prefix: str) -> np.ndarray:
        names = load_manifest(models, prefix=prefix)["feature_names"]
        return predict_frame(
            load_models(models, prefix=prefix), frame, names, threads=config.threads
        )

    items = frames.items
    probs = items.select("order_id", "user_id", "product_id", p=probabilities(items, "item"))
    # The p(None) source the run chose (`basket.p_none`, auto resolved); independence before.
    chosen = models / "p_none.json"
    choice = PNone(json.loads(chosen.read_text())["chosen"]) if chosen.exists() else None
    choice = p_none or choice
    none = None
    if choice in (PNone.MODEL, PNone.BLEND) and (models / "none_models.json").exists():
        orders = frames.orders
        if config.model.stack_none:
            orders = stack_orders(orders, probs)  # fold-averaged p, as for test orders
        none = orders.select("order_id", p_none=probabilities(orders, "none"))
    return probs, p_none_values(probs, none, choice or PNone.INDEPENDENT)


# --- stages -----------------------------------------------------------------------------------


def _key(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _features(
    dataset: Dataset, out: Path, fingerprint: str, config: RunConfig
) -> tuple[FeatureFrames, bool]:
    key = _key(fingerprint, config.stage_hash("features"))
    items_path = out / "features" / f"items-{key}.parquet"
    orders_path = out / "features" / f"orders-{key}.parquet"
    stats_dir = out / STATS_DIR
    if items_path.exists() and orders_path.exists() and FittedStats.saved_key(stats_dir) == key:
        return FeatureFrames(
            items=pl.read_parquet(items_path), orders=pl.read_parquet(orders_path)
        ), True
    engine = polars_engine(gpu=config.features.gpu_engine)
    frames = build_features(dataset, config=config.features, engine=engine)
    for old in (out / "features").glob("*.parquet"):
        old.unlink()  # one cached feature set per run folder
    # A cache: lz4 writes in half the time of zstd, and reads faster too.
    write_frame(frames.items, items_path, compression="lz4")
    write_frame(frames.orders, orders_path, compression="lz4")
    assert frames.stats is not None
    replace(frames.stats, fingerprint=fingerprint, key=key).save(stats_dir)
    return frames, False


def _train(
    frame: pl.DataFrame,
    out: Path,
    name: str,
    key: str,
    config: RunConfig,
    device: str,
    meter: StageMeter,
) -> tuple[CVResult, bool]:
    folder = out / "models"
    cached = load_cv_result(folder, prefix=name, key=key)
    if cached is not None:
        return cached, True
    result = train_cv(
        frame,
        config=config.model,
        device=device,
        threads=config.threads,
        progress=lambda fold, text: meter.message(f"fold {fold}: {text}"),
    )
    save_cv_result(result, folder, prefix=name, key=key)
    return result, False


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
    out: Path,
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
            ("data", metrics["data"]),
            ("users", f"{dataset.n_users:,}"),
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
        f1_table=table.select("method", "orders", "mean_f1", "ci_low", "ci_high"),
        fold_metrics=pl.concat(folds, how="diagonal_relaxed"),
        importance=items.importance,
        calibration=pl.DataFrame(metrics["calibration"]) if metrics["calibration"] else None,
        basket_sizes=basket_sizes,
        stages=list(records),
        config_toml=config.to_toml(),
        notes=[],
        paired=metrics["paired"],
        nbr_metrics=metrics["nbr_metrics"],
        paired_nbr=metrics["paired_nbr"],
    )
    write_report(out / "report.html", dataset=dataset, inputs=inputs)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value)}")
