"""What an evaluation cannot tell: warnings that travel with the run (metrics.json, report, CLI).

A team staffs alerts from the thresholds chosen on the validation period, so
a run says when they rest on too little, instead of printing a table that
looks like any other:

- a validation period with no laundering (nothing to choose a threshold on:
  F-beta detectors then alert on nothing) or with fewer than `MIN_POSITIVES`
  laundering transactions (each one is then worth 5 % of recall or more, and
  the chosen threshold moves with a single label);
- a test period with no laundering (recall, F-beta and PR-AUC are undefined);
- a detector whose best-F-beta threshold alerts on at least `FLOOD_SHARE` of
  the validation period: no threshold of it beats alerting on (nearly)
  everything, so it separates nothing there and its alerts cannot be staffed.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FLOOD_SHARE", "MIN_POSITIVES", "period_warnings", "threshold_warnings"]

MIN_POSITIVES = 20
FLOOD_SHARE = 0.5


def period_warnings(valid_labels: np.ndarray, test_labels: np.ndarray) -> list[str]:
    """Warnings about how many laundering transactions the validation and test periods hold."""
    n_valid, n_test = int(np.sum(valid_labels)), int(np.sum(test_labels))
    out: list[str] = []
    if n_valid == 0:
        out.append(
            f"the validation period ({len(valid_labels):,} transactions) holds no laundering: "
            "no threshold can be chosen on it, so best-F-beta detectors alert on nothing; "
            'use more data or `threshold = "budget"` in [run]'
        )
    elif n_valid < MIN_POSITIVES:
        out.append(
            f"the validation period holds only {n_valid} laundering transactions "
            f"(of {len(valid_labels):,}): thresholds chosen on so few are unstable"
        )
    if n_test == 0:
        out.append(
            f"the test period ({len(test_labels):,} transactions) holds no laundering: "
            "recall, F-beta and PR-AUC are undefined (nan)"
        )
    elif n_test < MIN_POSITIVES:
        out.append(
            f"the test period holds only {n_test} laundering transactions "
            f"(of {len(test_labels):,}): its figures have wide intervals"
        )
    return out


def threshold_warnings(
    name: str, valid_scores: np.ndarray, threshold: float, *, beta: float
) -> list[str]:
    """A warning when the best-F-beta threshold alerts on most of the validation period."""
    share = float(np.mean(np.asarray(valid_scores) > threshold)) if len(valid_scores) else 0.0
    if share < FLOOD_SHARE:
        return []
    return [
        f"{name}: its best-F{beta:g} threshold alerts on {share:.0%} of the validation period: "
        "it does not separate laundering there, and its alerts cannot be staffed"
    ]
