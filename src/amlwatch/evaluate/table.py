"""One evaluation row per detector: threshold from the validation period, metrics on test."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from amlwatch.evaluate.metrics import average_precision, confusion, f_beta, recall_at_budget
from amlwatch.evaluate.thresholds import budget_threshold, f_beta_threshold

__all__ = [
    "Period",
    "evaluate_alerts",
    "evaluate_at_threshold",
    "evaluate_scores",
    "evaluation_table",
    "summary_columns",
]

BUDGETS = (10.0, 50.0)


@dataclass(frozen=True)
class Period:
    """Scores, labels and (optionally) typologies of one period's rows."""

    scores: np.ndarray
    labels: np.ndarray
    typology: np.ndarray | None = None
    rings: np.ndarray | None = None
    """Each row's laundering ring id (null or NaN for lawful rows), for ring-level recall."""


def _alert_metrics(alerts: np.ndarray, period: Period, beta: float) -> dict[str, Any]:
    c = confusion(alerts, period.labels)
    precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 0.0
    recall = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else float("nan")
    row: dict[str, Any] = {
        **c,
        "alerts_per_10k": 10_000 * float(np.mean(alerts)),
        "precision": precision,
        "recall": recall,
        "fallout": c["fp"] / (c["fp"] + c["tn"]) if c["fp"] + c["tn"] else 0.0,
        "f1": f_beta(precision, recall, 1.0) if np.isfinite(recall) else float("nan"),
        f"f{beta:g}": f_beta(precision, recall, beta) if np.isfinite(recall) else float("nan"),
    }
    if period.rings is not None:
        # A ring is found when any of its legs in the period alerts: the investigator who
        # opens that alert's case reaches the rest of the ring through the shared accounts.
        ring = pl.Series(period.rings, dtype=pl.Int64, strict=False)
        found = pl.DataFrame({"ring": ring, "alert": alerts}).drop_nulls("ring")
        per_ring = found.group_by("ring").agg(pl.col("alert").any())
        row["rings"] = per_ring.height
        row["rings_found"] = (
            float(per_ring.get_column("alert").mean()) if per_ring.height else float("nan")  # type: ignore[arg-type]
        )
    if period.typology is not None:
        typ = np.asarray(period.typology, dtype=object)
        for name in sorted({t for t in typ if t is not None}):
            mask = typ == name
            row[f"recall_{name}"] = float(np.mean(alerts[mask]))
    return row


def evaluate_scores(
    name: str,
    *,
    valid: Period,
    test: Period,
    beta: float = 2.0,
    budget: float | None = None,
    budgets: tuple[float, ...] = BUDGETS,
) -> dict[str, Any]:
    """Choose the threshold on `valid` (best F-beta, or `budget` alerts per 10k) and score `test`."""
    if budget is None:
        threshold = f_beta_threshold(valid.scores, valid.labels, beta=beta)
    else:
        threshold = budget_threshold(valid.scores, per_10k=budget)
    return evaluate_at_threshold(name, threshold=threshold, period=test, beta=beta, budgets=budgets)


def evaluate_at_threshold(
    name: str,
    *,
    threshold: float,
    period: Period,
    beta: float = 2.0,
    budgets: tuple[float, ...] = BUDGETS,
) -> dict[str, Any]:
    """The same row as `evaluate_scores` for a threshold already chosen (a run's, applied
    to later labelled data by `amlwatch score`)."""
    alerts = np.asarray(period.scores) > threshold
    row: dict[str, Any] = {"detector": name, "threshold": threshold}
    row.update(_alert_metrics(alerts, period, beta))
    row["pr_auc"] = average_precision(period.scores, period.labels)
    for b in budgets:
        row[f"recall_at_{b:g}_per_10k"] = recall_at_budget(period.scores, period.labels, b)
    return row


def evaluate_alerts(
    name: str, *, alerts: np.ndarray, test: Period, beta: float = 2.0
) -> dict[str, Any]:
    """A row for alerts that are already decided (e.g. detector A OR rules); no PR-AUC."""
    row: dict[str, Any] = {"detector": name, "threshold": float("nan")}
    row.update(_alert_metrics(np.asarray(alerts, dtype=bool), test, beta))
    row["pr_auc"] = float("nan")
    return row


def evaluation_table(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Stack rows (missing cells become null) in the order given."""
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    return pl.DataFrame([{k: row.get(k) for k in keys} for row in rows], infer_schema_length=None)


def summary_columns(columns: list[str]) -> list[str]:
    """The headline columns of an evaluation table, in display order.

    The F-beta column is named after the run's beta (``f2`` by default, ``f0.5``...),
    so it is found by name rather than assumed; with beta = 1 it is ``f1`` itself.
    """
    f_beta_cols = [c for c in columns if re.fullmatch(r"f\d+(\.\d+)?", c) and c != "f1"]
    wanted = ["detector", "alerts_per_10k", "precision", "recall", "f1", *f_beta_cols, "pr_auc"]
    return [c for c in wanted if c in columns]
