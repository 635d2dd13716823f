"""Gain importance: XGBoost's total gain per feature, mean and spread over the fold models."""

from __future__ import annotations

import polars as pl

from basketcast.importance._base import (
    BaseImportanceEvaluator,
    By,
    Importance,
    finish_table,
    group_of,
)
from basketcast.importance._run import RunArtifacts

__all__ = ["GainImportanceEvaluator", "mean_gain"]


def mean_gain(importance: pl.DataFrame) -> pl.DataFrame:
    """Gain per feature averaged over folds, largest first.

    Parameters
    ----------
    importance
        ``feature, fold, gain``, one row per feature a fold's model used.

    Returns
    -------
    pl.DataFrame
        ``feature, gain`` (mean over every fold), ``share`` (of the summed mean gain).
    """
    n_folds = max(importance.get_column("fold").n_unique(), 1)
    # XGBoost omits the features a fold never split on: their gain there is 0,
    # so divide by the number of folds, not by the rows a feature happens to have.
    return (
        importance.group_by("feature")
        .agg((pl.col("gain").sum() / n_folds).alias("gain"))
        .with_columns((pl.col("gain") / pl.col("gain").sum()).alias("share"))
        .sort(["gain", "feature"], descending=[True, False])
    )


class GainImportanceEvaluator(BaseImportanceEvaluator):
    """The run's own total gain per feature, as the item model's folds recorded it (no compute).

    A family's gain is the sum of its features' gains. Gain says how much a
    feature was *used*, not what the model would lose without it: two
    features carrying the same signal split the gain between them (LOFO
    measures the loss).
    """

    method = "gain"

    def evaluate(self, run: RunArtifacts, *, by: By = "feature") -> Importance:
        gain = run.gain
        folds = sorted(gain.get_column("fold").unique().to_list())
        # Every (feature, fold) pair, 0 where a fold never split on the feature.
        grid = pl.DataFrame({"feature": run.feature_names}).join(
            pl.DataFrame({"fold": folds}, schema={"fold": gain.schema["fold"]}), how="cross"
        )
        full = grid.join(gain, on=["feature", "fold"], how="left").with_columns(
            pl.col("gain").fill_null(0.0)
        )
        names = group_of(run, by)
        per_fold = (
            full.with_columns(name=pl.col("feature").replace_strict(names))
            .group_by("name", "fold")
            .agg(pl.col("gain").sum())
        )
        table = (
            per_fold.group_by("name")
            .agg(
                importance=pl.col("gain").mean(),
                spread=pl.col("gain").std(ddof=1).fill_null(0.0),
            )
            .with_columns(share=pl.col("importance") / pl.col("importance").sum())
        )
        table = finish_table(table, run, by)
        return Importance(
            method=self.method,
            by=by,
            table=table,
            meaning="mean total gain over the fold models (spread: standard deviation over folds)",
            settings={"folds": folds, "source": "the run's fold models (no recomputation)"},
            notes=(
                "Gain counts how much the trees used a feature; features that carry the same "
                "signal share it, and a feature the trees never split on scores 0. LOFO "
                "measures what the model loses without it.",
            ),
        )
