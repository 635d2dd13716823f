"""The report's Explanations section, from the importance files a run folder holds.

`basketcast importance RUN` writes
``RUN/explanations/importance-<method>.json/.parquet/.png``
(`basketcast.importance.explanations_folder`); this section shows each: what
the number means, what it was computed on, its
figures, its top rows and its notes. Nothing is computed here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from basketcast.importance import SavedImportance, explanations_folder, read_importances

__all__ = ["explanations_section"]

TOP_ROWS = 20
_TITLES = {"gain": "Gain", "shap": "SHAP", "lofo": "Leave one out (LOFO)"}
_FORMATS = {
    "importance": "{:.4g}",
    "low": "{:.4g}",
    "high": "{:.4g}",
    "spread": "{:.3g}",
    "share": "{:.3f}",
    "mean_shap": "{:+.4f}",
    "auc_drop": "{:+.4f}",
    "f1_drop": "{:+.4f}",
    "f1_low": "{:+.4f}",
    "f1_high": "{:+.4f}",
    "logloss_without": "{:.5f}",
}


def explanations_section(run_dir: str | Path, *, run_id: str = "") -> str:
    """HTML of the section, or "" when the run folder holds no importance files.

    `run_id` is the id of the run the report is about: an importance computed
    for another run is shown marked stale.
    """
    from basketcast.report._parts import _e, _img, _list, _muted, _table

    saved = read_importances(explanations_folder(run_dir))
    if not saved:
        return ""
    out = ['<section id="explanations"><h2>Explanations</h2>']
    out.append(
        _muted(
            "Which features the item model relies on, from `basketcast importance`. Gain and "
            "SHAP read the trained models; LOFO retrains without each feature or family."
        )
    )
    for item in saved:
        info = item.info
        out.append(f"<h3>{_e(_TITLES.get(item.method, item.method))} by {_e(info['by'])}</h3>")
        if run_id and info.get("run_id") and info["run_id"] != run_id:
            out.append(
                f"<p><strong>Stale:</strong> computed for run {_e(info['run_id'])}, not for "
                f"this run's models ({_e(run_id)}); run `basketcast importance` again.</p>"
            )
        out.append(_muted(f"importance = {info['meaning']}."))
        out.append(_muted("Computed on: " + _settings(info.get("settings", {}))))
        for figure in item.figures:
            out.append(_img(figure.read_bytes(), f"{item.method} importance figure"))
        out.append(_table(_rows(item), _FORMATS))
        if info.get("notes"):
            out.append(_list(info["notes"]))
    out.append("</section>")
    return "\n".join(out)


def _rows(item: SavedImportance) -> pl.DataFrame:
    table = item.table.head(TOP_ROWS)
    drop = [c for c in ("features",) if c in table.columns and item.info.get("by") == "feature"]
    if table.get_column("low").null_count() == table.height:
        drop += ["low", "high"]
    return table.drop(drop).with_row_index("rank", offset=1)


def _settings(settings: dict[str, Any]) -> str:
    return "; ".join(f"{k} {v}" for k, v in settings.items())
