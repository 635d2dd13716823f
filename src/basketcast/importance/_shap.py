"""SHAP importance: XGBoost's own exact TreeSHAP contributions (``pred_contribs``) out of fold."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import xgboost as xgb

from basketcast.device import resolve_device
from basketcast.errors import UsageError
from basketcast.importance._base import (
    BaseImportanceEvaluator,
    By,
    Importance,
    finish_table,
    group_of,
)
from basketcast.importance._run import RunArtifacts

__all__ = ["ShapImportanceEvaluator", "fold_contributions"]

SUM_TOLERANCE = 1e-4
"""How far a row's contributions (bias included) may sum from its margin before a note says so."""


def fold_contributions(
    booster: xgb.Booster, matrix: np.ndarray, names: list[str], *, device: str = "cpu"
) -> tuple[np.ndarray, np.ndarray]:
    """SHAP contributions and margins of `matrix`'s rows under one booster.

    Returns
    -------
    contributions
        ``(rows, features + 1)`` float32, the last column the bias (expected margin).
    margin
        ``(rows,)``: the raw log-odds the model predicts for each row.
    """
    if device.startswith("cuda"):
        # GPUTreeShap: the booster predicts on the GPU, fed a device array when CuPy is here.
        booster = booster.copy()
        booster.set_param({"device": device})
        try:
            import cupy

            data: Any = xgb.DMatrix(cupy.asarray(matrix), feature_names=names)
        except ImportError:
            data = xgb.DMatrix(matrix, feature_names=names)
    else:
        data = xgb.DMatrix(matrix, feature_names=names)
    contributions = np.asarray(booster.predict(data, pred_contribs=True), dtype=np.float32)
    margin = np.asarray(booster.predict(data, output_margin=True), dtype=np.float32)
    return contributions, margin


class ShapImportanceEvaluator(BaseImportanceEvaluator):
    """Mean |SHAP| and signed mean SHAP of each feature (or family), out of fold.

    A seeded sample of `rows` labelled depth-0 rows (the real train orders) is
    drawn across the trained folds; each fold's model explains its own
    held-out rows, so no row is explained by a model that saw it. A family's
    contribution to a row is the sum of its features' (SHAP values add up).

    Parameters
    ----------
    rows
        Rows to explain (all of them when fewer exist).
    seed
        The sample's seed.
    device
        ``auto``, ``cpu`` or ``cuda``; default: the run's model device.
    """

    method = "shap"

    def __init__(self, *, rows: int = 20_000, seed: int = 0, device: str | None = None) -> None:
        if rows < 1:
            raise UsageError(f"rows must be at least 1, got {rows}")
        self.rows, self.seed, self.device = rows, seed, device

    def evaluate(self, run: RunArtifacts, *, by: By = "feature") -> Importance:
        device = resolve_device(self.device or run.config.model.device)
        names = run.feature_names
        frame = run.labelled_rows(depth0=True).filter(pl.col("fold").is_in(list(run.trained_folds)))
        if frame.is_empty():
            raise UsageError("the run has no labelled depth-0 rows in its trained folds to explain")
        n = min(self.rows, frame.height)
        sample = frame.sample(n=n, seed=self.seed, shuffle=False)
        folds = sample.get_column("fold").to_numpy()
        contributions = np.empty((n, len(names) + 1), dtype=np.float32)
        margins = np.empty(n, dtype=np.float32)
        matrix = sample.select(pl.col(names).cast(pl.Float32)).to_numpy()
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        for fold in run.trained_folds:
            mine = np.flatnonzero(folds == fold)
            if mine.size:
                contributions[mine], margins[mine] = fold_contributions(
                    run.boosters[fold], matrix[mine], names, device=device
                )
        sum_error = float(np.abs(contributions.sum(axis=1) - margins).max())
        groups = group_of(run, by)
        row_names = list(dict.fromkeys(groups[c] for c in names))
        index = {g: i for i, g in enumerate(row_names)}
        member = np.zeros((len(names), len(row_names)), dtype=np.float32)
        for j, c in enumerate(names):
            member[j, index[groups[c]]] = 1.0
        grouped = contributions[:, :-1] @ member  # (rows, groups): SHAP values add within a group
        per_fold = np.stack(
            [
                np.abs(grouped[folds == f]).mean(axis=0)
                for f in run.trained_folds
                if (folds == f).any()
            ]
        )
        mean_abs = np.abs(grouped).mean(axis=0)
        table = pl.DataFrame(
            {
                "name": row_names,
                "importance": mean_abs.astype(np.float64),
                "mean_shap": grouped.mean(axis=0).astype(np.float64),
                "spread": per_fold.std(axis=0, ddof=1) if len(per_fold) > 1 else 0.0 * mean_abs,
                "share": (mean_abs / max(float(mean_abs.sum()), 1e-300)).astype(np.float64),
            }
        ).with_columns(pl.col("spread").cast(pl.Float64))
        notes = [
            "mean |SHAP| is the average size of a feature's push on the log-odds; the signed "
            "mean says which way it pushes on average (SHAP values add up to each row's margin).",
            f"each row's contributions plus the bias sum to its margin within {sum_error:.2g} "
            f"(largest gap over {n:,} rows).",
        ]
        if sum_error > SUM_TOLERANCE:
            notes.append(
                f"warning: the largest gap between contributions and margin ({sum_error:.3g}) "
                f"exceeds {SUM_TOLERANCE:g}."
            )
        values = None
        if by == "feature":
            values = _beeswarm_values(contributions[:, :-1], matrix, names, seed=self.seed)
        return Importance(
            method=self.method,
            by=by,
            table=finish_table(table, run, by),
            meaning="mean |SHAP| on the log-odds scale, out of fold (spread: std over fold models)",
            settings={
                "rows": n,
                "rows_available": frame.height,
                "row_kind": "labelled depth-0 rows (train orders), each explained by the "
                "model of the fold that held it out",
                "folds": list(run.trained_folds),
                "seed": self.seed,
                "device": device,
                "bias": float(contributions[:, -1].mean()),
                "max_sum_error": sum_error,
            },
            notes=tuple(notes),
            values=values,
        )


def _beeswarm_values(
    contributions: np.ndarray, matrix: np.ndarray, names: list[str], *, seed: int, keep: int = 2000
) -> pl.DataFrame:
    """Long table ``name, shap, value_rank`` of at most `keep` sampled rows, for the beeswarm."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(matrix), size=min(keep, len(matrix)), replace=False)
    parts = []
    for j, name in enumerate(names):
        values = matrix[rows, j]
        # The value's rank within the sample colours the dot; missing values get no colour.
        ranks = pl.Series(values).fill_nan(None).rank("average").to_numpy()
        scale = max(int(np.isfinite(values).sum()) - 1, 1)
        parts.append(
            pl.DataFrame(
                {
                    "name": name,
                    "shap": contributions[rows, j].astype(np.float64),
                    "value_rank": ((ranks - 1) / scale).astype(np.float64),
                }
            )
        )
    return pl.concat(parts)
