"""Importance files of a run: ``RUN/explanations/importance-<method>.parquet`` / ``.json`` / ``.png``.

They live in ``RUN/explanations/``, beside the run's published outputs and not
among them: ``run.json`` lists (and hashes) only what `basketcast run`
published, so adding or replacing an explanation never makes it lie. Each
file is written atomically and the JSON last, so a method counts as done only
when its JSON exists; the JSON names the run (``run_id``, ``invocation_id``)
it explains, which the report uses to flag a stale one. `basketcast report
RUN` embeds them in a newly published report.html.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from basketcast.importance._base import Importance
from basketcast.importance._figures import bars, beeswarm
from basketcast.io import atomic_path, sweep_temporary, write_frame, write_text

__all__ = [
    "EXPLANATIONS",
    "SavedImportance",
    "explanations_folder",
    "read_importances",
    "write_importance",
]

EXPLANATIONS = "explanations"
"""The folder of a run folder that holds its importance files."""
METHODS = ("gain", "shap", "lofo")
FORMAT_VERSION = 1


@dataclass(frozen=True)
class SavedImportance:
    """One method's files, read back: its JSON header, its table and its figure paths."""

    method: str
    info: dict[str, Any]
    table: pl.DataFrame
    figures: list[Path]


def explanations_folder(run_dir: str | Path) -> Path:
    """Where a run folder keeps its importance files (``RUN/explanations``)."""
    return Path(run_dir) / EXPLANATIONS


def write_importance(
    result: Importance, folder: str | Path, *, run_id: str = "", invocation_id: str = ""
) -> list[Path]:
    """Write `result`'s table, figures and JSON into `folder`; return the paths written.

    For a run folder, `folder` is `explanations_folder(RUN)`; `run_id` and
    `invocation_id` name the run the importance explains.
    """
    folder = Path(folder)
    sweep_temporary(folder)  # what a killed writer left (only writers that are gone)
    stem = folder / f"importance-{result.method}"
    paths = [write_frame(result.table, stem.with_suffix(".parquet"))]
    figures = {stem.with_suffix(".png"): bars(result)}
    swarm = beeswarm(result)
    if swarm is not None:
        figures[folder / f"importance-{result.method}-beeswarm.png"] = swarm
    for path, png in figures.items():
        with atomic_path(path) as tmp:
            tmp.write_bytes(png)
        paths.append(path)
    info = {
        "format_version": FORMAT_VERSION,
        "method": result.method,
        "by": result.by,
        "run_id": run_id,
        "invocation_id": invocation_id,
        "meaning": result.meaning,
        "settings": result.settings,
        "notes": list(result.notes),
        "figures": [p.name for p in figures],
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "table": result.table.to_dicts(),
    }
    paths.append(write_text(stem.with_suffix(".json"), json.dumps(info, indent=2) + "\n"))
    return paths


def read_importances(folder: str | Path) -> list[SavedImportance]:
    """Every method's saved importance in `folder`, in the order gain, SHAP, LOFO."""
    folder = Path(folder)
    found = []
    for method in METHODS:
        stem = folder / f"importance-{method}"
        header, table = stem.with_suffix(".json"), stem.with_suffix(".parquet")
        if not (header.exists() and table.exists()):
            continue
        info = json.loads(header.read_text())
        if info.get("format_version") != FORMAT_VERSION:
            continue
        figures = [folder / name for name in info.get("figures", []) if (folder / name).exists()]
        found.append(SavedImportance(method, info, pl.read_parquet(table), figures))
    return found
