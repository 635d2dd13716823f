"""Render a finished run's report again from its files, e.g. after `basketcast importance`.

Everything comes from the run folder (metrics.json, config.toml, models/,
submission.csv, oof.parquet) and the data folder the run names; the new
report replaces the old one atomically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from basketcast._meter import StageRecord
from basketcast.report.html import ReportInputs, write_report

__all__ = ["rerender_report"]


def rerender_report(run_dir: str | Path, *, data: str | Path | None = None) -> Path:
    """Write ``run_dir/report.html`` anew from the run's files; returns its path.

    Parameters
    ----------
    run_dir
        A folder written by `basketcast run`.
    data
        The data folder, when it has moved since the run (default: the one metrics.json names).

    Raises
    ------
    FileNotFoundError
        The run folder lacks metrics.json, or the data folder is gone.
    """
    from basketcast.data.load import load_dataset

    run = Path(run_dir)
    metrics_file = run / "metrics.json"
    if not metrics_file.exists():
        raise FileNotFoundError(f"{metrics_file}: missing; is {run} a finished `basketcast run`?")
    metrics: dict[str, Any] = json.loads(metrics_file.read_text())
    source = Path(data if data is not None else metrics["data"])
    if not source.is_dir():
        raise FileNotFoundError(
            f"{source}: the run's data folder is gone; pass the folder it moved to (--data)"
        )
    dataset = load_dataset(source)
    models = run / "models"
    folds = [
        pl.read_parquet(models / f"{name}_fold_metrics.parquet").with_columns(model=pl.lit(name))
        for name in ("item", "none")
        if (models / f"{name}_fold_metrics.parquet").exists()
    ]
    importance = models / "item_importance.parquet"
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
        f1_table=pl.DataFrame(metrics["f1_table"]).select(
            "method", "orders", "mean_f1", "ci_low", "ci_high"
        ),
        fold_metrics=pl.concat(folds, how="diagonal_relaxed") if folds else None,
        importance=pl.read_parquet(importance) if importance.exists() else None,
        calibration=pl.DataFrame(metrics["calibration"]) if metrics.get("calibration") else None,
        basket_sizes=_basket_sizes(run),
        stages=[
            StageRecord(s["name"], s["seconds"], s["peak_rss_mb"], s.get("cached", False))
            for s in metrics.get("stages", [])
        ],
        config_toml=(run / "config.toml").read_text() if (run / "config.toml").exists() else None,
        notes=["Rendered again from the run's files by `basketcast report`."],
        paired=metrics.get("paired", []),
        nbr_metrics=metrics.get("nbr_metrics", []),
        paired_nbr=metrics.get("paired_nbr", []),
        run_dir=run,
    )
    return write_report(run / "report.html", dataset=dataset, inputs=inputs)


def _basket_sizes(run: Path) -> pl.Series | None:
    """Products per chosen basket, from the submission (None-only baskets count 0)."""
    submission = run / "submission.csv"
    if not submission.exists():
        return None
    baskets = pl.read_csv(submission, schema_overrides={"products": pl.String})
    if baskets.is_empty():
        return None
    return baskets.get_column("products").map_elements(
        lambda s: len([t for t in s.split() if t != "None"]), return_dtype=pl.Int64
    )
