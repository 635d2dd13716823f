"""Evaluation: the temporal split, thresholds chosen on the validation period, and the table.

Part 2 adds its detectors as extra rows: score the validation and test
periods, then `evaluate_scores(name, valid=..., test=...)` (threshold from
validation, metrics on test) or, for an OR of two detectors' alerts,
`evaluate_alerts`; `evaluation_table(rows)` stacks them.
"""

from __future__ import annotations

from amlwatch.evaluate.metrics import average_precision, confusion, recall_at_budget
from amlwatch.evaluate.split import Split, temporal_split
from amlwatch.evaluate.table import (
    Period,
    evaluate_alerts,
    evaluate_at_threshold,
    evaluate_scores,
    evaluation_table,
    summary_columns,
)
from amlwatch.evaluate.thresholds import budget_threshold, f_beta_threshold

__all__ = [
    "Period",
    "Split",
    "average_precision",
    "budget_threshold",
    "confusion",
    "evaluate_alerts",
    "evaluate_at_threshold",
    "evaluate_scores",
    "evaluation_table",
    "f_beta_threshold",
    "recall_at_budget",
    "summary_columns",
    "temporal_split",
]
