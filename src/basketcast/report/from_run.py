"""Render a finished run's report again from its files, e.g. after `basketcast importance`.

Everything comes from the run's published invocation (metrics.json,
config.toml, models/, submission.csv), its ``explanations/`` and the data
folder the run names. The report is never edited in place, and never written
through the top-level link into the published invocation (that would make
``run.json``'s hashes lie): under the run folder's lock, a new invocation
folder is staged with hard links to every published file, checked against
``run.json`` first, plus the new report.html, and published with the run
folder's own mechanism (`basketcast.runfolder.RunFolder.publish`: a new
manifest, one atomic rename). A reader sees the old complete set or the new
one. The manifest keeps the run's ``invocation_id`` (the outputs still come
from that `run` call, and metrics.json says so) and records the re-rendering
under ``report``.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import polars as pl

from basketcast._meter import StageRecord
from basketcast.data.dataset import Dataset
from basketcast.report.html import ReportInputs, write_report

__all__ = ["rerender_report"]

_MANIFEST_OWN = ("manifest_version", "invocation_id", "published", "files")
"""Keys `RunFolder.publish` writes itself; the others (run_id, ...) are carried over."""


def rerender_report(run_dir: str | Path, *, data: str | Path | None = None) -> Path:
    """Publish `run_dir`'s outputs again with a newly rendered report.html; returns its path.

    Parameters
    ----------
    run_dir
        A folder written by `basketcast run`.
    data
        The data folder, when it has moved since the run (default: the one metrics.json names).

    Raises
    ------
    FileNotFoundError
        `run_dir` is not a finished run, or the data folder is gone.
    basketcast.errors.UsageError
        A published file is missing or corrupt (it is never re-hashed into a new manifest).
    basketcast.runfolder.RunFolderBusy
        A run (or another `report`) holds the run folder.
    """
    from basketcast.data.load import load_dataset
    from basketcast.importance import published_run
    from basketcast.runfolder import open_run_folder, published_folder, verify_outputs

    run = Path(run_dir)
    _, metrics = published_run(run)  # before the lock: a folder that is not a run gets no .lock
    dataset = load_dataset(_data_folder(metrics, data))  # the slow part, outside the lock
    with open_run_folder(run) as staged:
        # Under the lock nothing else publishes: read the published invocation again, and check
        # every file of it, so that hashing the links below cannot bless a damaged file.
        folder = published_folder(run)
        manifest = verify_outputs(folder)
        fresh: dict[str, Any] = json.loads((folder / "metrics.json").read_text())
        if fresh.get("data") != metrics.get("data") and data is None:
            dataset = load_dataset(_data_folder(fresh, data))  # a run published meanwhile
        for rel in manifest["files"]:
            if rel != "report.html":
                staged.link_output(folder / rel, rel)
        inputs = _inputs(folder, run, fresh, dataset)
        write_report(staged.output("report.html"), dataset=dataset, inputs=inputs)
        carried = {k: v for k, v in manifest.items() if k not in _MANIFEST_OWN}
        staged.publish(
            extra={
                **carried,
                # The outputs are still those of the `run` call that made them (as metrics.json
                # and the report say), so the manifest keeps its id; publish() lets extra win.
                "invocation_id": manifest["invocation_id"],
                "report": {
                    "rendered_by": "basketcast report",
                    "folder": staged.invocation_id,
                    "at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                },
            }
        )
    return run / "report.html"


def _data_folder(metrics: dict[str, Any], data: str | Path | None) -> Path:
    source = Path(data if data is not None else metrics["data"])
    if not source.is_dir():
        raise FileNotFoundError(
            f"{source}: the run's data folder is gone; pass the folder it moved to (--data)"
        )
    return source


def _inputs(folder: Path, run: Path, metrics: dict[str, Any], dataset: Dataset) -> ReportInputs:
    """The report's inputs from a published invocation's files (as `basketcast run` gave them)."""
    from basketcast.importance import gain_table
    from basketcast.model import load_manifest, load_models

    folds = [
        pl.DataFrame(metrics[f"{name}_model"]["folds"]).with_columns(model=pl.lit(name))
        for name in ("item", "none")
        if metrics.get(f"{name}_model")
    ]
    models = folder / "models"
    names = list(load_manifest(models, prefix="item")["feature_names"])
    importance = gain_table(load_models(models, prefix="item"), names)
    f1 = metrics["f1"]
    return ReportInputs(
        title="basketcast run",
        summary=[
            ("run id", metrics["run_id"]),
            ("invocation id", metrics.get("invocation_id", "")),
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
        importance=importance,
        calibration=pl.DataFrame(metrics["calibration"]) if metrics.get("calibration") else None,
        basket_sizes=_basket_sizes(folder),
        stages=[
            StageRecord(s["name"], s["seconds"], s["peak_rss_mb"], s.get("cached", False))
            for s in metrics.get("stages", [])
        ],
        config_toml=(folder / "config.toml").read_text(),
        notes=[
            *metrics.get("notes", []),
            "Rendered again from the run's files by `basketcast report`.",
        ],
        paired=metrics.get("paired", []),
        nbr_metrics=metrics.get("nbr_metrics", []),
        paired_nbr=metrics.get("paired_nbr", []),
        run_dir=run,
        run_id=str(metrics["run_id"]),
    )


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
