"""Metrics for rare positives: confusion counts, F-beta, PR-AUC, recall at an alert budget."""

from __future__ import annotations

import numpy as np

__all__ = ["average_precision", "confusion", "f_beta", "recall_at_budget"]


def confusion(alerts: np.ndarray, labels: np.ndarray) -> dict[str, int]:
    """tp, fp, fn, tn of boolean alerts against 0/1 labels."""
    a = np.asarray(alerts, dtype=bool)
    y = np.asarray(labels, dtype=bool)
    return {
        "tp": int(np.sum(a & y)),
        "fp": int(np.sum(a & ~y)),
        "fn": int(np.sum(~a & y)),
        "tn": int(np.sum(~a & ~y)),
    }


def f_beta(precision: float, recall: float, beta: float) -> float:
    """F-beta; beta > 1 weighs recall (missed laundering) above precision."""
    b2 = beta * beta
    denom = b2 * precision + recall
    return 0.0 if denom == 0 else (1 + b2) * precision * recall / denom


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """PR-AUC as average precision (step-wise, ties broken pessimistically: no interpolation)."""
    y = np.asarray(labels, dtype=bool)
    if not y.any():
        return float("nan")
    s = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    tp = np.cumsum(y)
    # Evaluate only at the last row of each run of equal scores.
    last = np.r_[s[1:] != s[:-1], True]
    tp_at, k_at = tp[last], np.nonzero(last)[0] + 1
    precision = tp_at / k_at
    recall_gain = np.diff(np.r_[0, tp_at]) / y.sum()
    return float(np.sum(precision * recall_gain))


def recall_at_budget(scores: np.ndarray, labels: np.ndarray, per_10k: float) -> float:
    """Recall when the top `per_10k` alerts per 10,000 transactions are raised."""
    y = np.asarray(labels, dtype=bool)
    if not y.any():
        return float("nan")
    k = int(np.floor(len(y) * per_10k / 10_000))
    if k <= 0:
        return 0.0
    top = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")[:k]
    return float(y[top].sum() / y.sum())
