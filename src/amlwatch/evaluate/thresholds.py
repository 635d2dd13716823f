"""Thresholds chosen on the validation period: the best F-beta, or an alert budget."""

from __future__ import annotations

import numpy as np

from amlwatch.evaluate.metrics import f_beta

__all__ = ["budget_threshold", "f_beta_threshold"]


def _cuts(scores: np.ndarray) -> np.ndarray:
    """Distinct scores, descending."""
    return np.unique(np.asarray(scores, dtype=np.float64))[::-1]


def f_beta_threshold(scores: np.ndarray, labels: np.ndarray, *, beta: float = 2.0) -> float:
    """The threshold (alert when score > threshold) with the best F-beta on these rows.

    It lies halfway between the chosen distinct score and the next lower one, so
    scores on new data that fall between them are treated consistently.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    cuts = _cuts(s)
    if not y.any():
        return float(cuts[0])  # nothing to catch: alert on nothing seen so far
    # Alerts at cut c are rows with score >= c: counts by cumulative sums over sorted scores.
    order = np.argsort(-s, kind="stable")
    ss, yy = s[order], y[order]
    last = np.r_[ss[1:] != ss[:-1], True]
    tp = np.cumsum(yy)[last]
    k = (np.nonzero(last)[0] + 1).astype(np.float64)
    precision = tp / k
    recall = tp / y.sum()
    scores_f = np.array([f_beta(p, r, beta) for p, r in zip(precision, recall, strict=True)])
    best = int(np.argmax(scores_f))
    lower = cuts[best + 1] if best + 1 < len(cuts) else cuts[best] - 1.0
    return float((cuts[best] + lower) / 2.0)


def budget_threshold(scores: np.ndarray, *, per_10k: float) -> float:
    """The threshold that raises about `per_10k` alerts per 10,000 of these rows."""
    s = np.sort(np.asarray(scores, dtype=np.float64))[::-1]
    k = int(np.floor(len(s) * per_10k / 10_000))
    if k <= 0:
        return float(s[0])
    if k >= len(s):
        return float(s[-1] - 1.0)
    return float((s[k - 1] + s[k]) / 2.0)
