"""Choosing the score weight w on the labelled validation period (**uses labels**).

The GAN score mixes two terms, ``w * rec + (1 - w) * feat`` (see
`amlwatch.gan.detector`). Two rules pick w from a grid on the validation
period:

- ``best``: the w of highest validation PR-AUC (ties: the w nearest 0.5).
- ``one_se``: the one-standard-error rule (Breiman et al.'s, for CART): the
  *largest* w whose validation PR-AUC is within one bootstrap standard error
  of the best. It leans towards the reconstruction term because that term is
  the stable one: across GAN seeds its validation ranking correlates at
  Spearman 0.97, the discriminator-feature term's at 0.70 (measured without
  labels; benchmarks/README.md). With a few dozen validation positives the
  PR-AUC of the best w carries a wide standard error, and a gain of the mix
  inside it is as likely noise of the unstable term as signal.

The standard error is a Poisson bootstrap of the validation rows (each row
weighted by a Poisson(1) count, seeded): the ranking is sorted once, and each
resample's PR-AUC is the weighted one, exact for integer weights (a row of
weight c counts as c tied copies).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

__all__ = [
    "WeightChoice",
    "WeightRule",
    "average_precision",
    "bootstrap_se",
    "choose_weight",
    "weighted_average_precision",
]


class WeightRule(enum.StrEnum):
    """How `choose_weight` picks w from the validation PR-AUC curve."""

    BEST = "best"
    ONE_SE = "one_se"


@dataclass(frozen=True, kw_only=True)
class WeightChoice:
    """The chosen w and the validation figures behind it."""

    weight: float
    rule: WeightRule
    best_weight: float
    best_pr_auc: float
    pr_auc: float
    se: float


def _blocks(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Descending order and the last index of every tied-score block in it."""
    s = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-s, kind="stable")
    ends = np.r_[np.flatnonzero(np.diff(s[order]) != 0), s.size - 1]
    return order, ends


def _ap_sorted(y: np.ndarray, count: np.ndarray, ends: np.ndarray) -> float:
    """Weighted PR-AUC of rows already in descending score order (`count` = row weights)."""
    tp = np.cumsum(y * count)[ends]
    n = np.cumsum(count)[ends]
    total = tp[-1]
    if total <= 0:
        return float("nan")
    precision = np.divide(tp, n, out=np.zeros_like(tp), where=n > 0)
    return float(np.sum(precision * np.diff(np.r_[0.0, tp]) / total))


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """PR-AUC as average precision (scikit-learn's definition: tied scores form one threshold)."""
    y = np.asarray(labels).astype(bool)
    if y.shape != np.shape(scores):
        raise ValueError(f"{y.shape[0]} labels for {np.shape(scores)[0]} scores")
    if not y.any():
        return float("nan")
    order, ends = _blocks(scores)
    return _ap_sorted(y[order].astype(np.float64), np.ones(y.size), ends)


def weighted_average_precision(
    labels: np.ndarray, scores: np.ndarray, weights: np.ndarray
) -> float:
    """PR-AUC with row weights; for integer weights, that of each row repeated `weight` times."""
    y = np.asarray(labels).astype(bool)
    c = np.asarray(weights, dtype=np.float64)
    if not (y.shape == np.shape(scores) == c.shape):
        raise ValueError(f"labels {y.shape}, scores {np.shape(scores)}, weights {c.shape} differ")
    if np.any(c < 0):
        raise ValueError("weights must be >= 0")
    order, ends = _blocks(scores)
    return _ap_sorted(y[order].astype(np.float64), c[order], ends)


def bootstrap_se(labels: np.ndarray, scores: np.ndarray, *, n_boot: int, seed: int) -> float:
    """Standard error of the PR-AUC: SD over `n_boot` seeded Poisson-bootstrap resamples."""
    if n_boot < 2:
        raise ValueError(f"n_boot must be >= 2, got {n_boot}")
    y = np.asarray(labels).astype(bool)
    order, ends = _blocks(scores)
    ys = y[order].astype(np.float64)
    rng = np.random.default_rng(seed)
    aps = [
        _ap_sorted(ys, rng.poisson(1.0, size=ys.size).astype(np.float64), ends)
        for _ in range(n_boot)
    ]
    aps_a = np.asarray(aps)
    aps_a = aps_a[np.isfinite(aps_a)]  # a resample may draw no positive at all
    return float(aps_a.std(ddof=1)) if aps_a.size >= 2 else float("nan")


def choose_weight(
    rec: np.ndarray,
    feat: np.ndarray,
    labels: np.ndarray,
    *,
    rule: WeightRule | str = WeightRule.BEST,
    grid: int = 21,
    n_boot: int = 200,
    seed: int = 0,
) -> WeightChoice:
    """Pick w in {0, 1/(grid-1), ..., 1} for ``w * rec + (1 - w) * feat`` (terms already scaled).

    **Uses labels.** Needs at least one positive label.
    """
    rule = WeightRule(rule)
    y = np.asarray(labels).astype(bool)
    rec, feat = np.asarray(rec, dtype=np.float64), np.asarray(feat, dtype=np.float64)
    if not (y.shape == rec.shape == feat.shape):
        raise ValueError(f"labels {y.shape}, rec {rec.shape}, feat {feat.shape} differ")
    if not y.any():
        raise ValueError("choose_weight needs at least one positive label")
    if grid < 2:
        raise ValueError(f"grid must be >= 2, got {grid}")
    ws = np.linspace(0.0, 1.0, grid)
    aps = np.array([average_precision(y, w * rec + (1 - w) * feat) for w in ws])
    top = ws[np.flatnonzero(aps >= aps.max() - 1e-12)]
    k_best = int(np.flatnonzero(ws == top[np.argmin(np.abs(top - 0.5))])[0])
    best_w, best_ap = float(ws[k_best]), float(aps[k_best])
    if rule is WeightRule.BEST:
        return WeightChoice(
            weight=best_w, rule=rule, best_weight=best_w, best_pr_auc=best_ap, pr_auc=best_ap,
            se=float("nan"),
        )  # fmt: skip
    se = bootstrap_se(y, best_w * rec + (1 - best_w) * feat, n_boot=n_boot, seed=seed)
    within = np.flatnonzero(aps >= best_ap - (se if np.isfinite(se) else 0.0) - 1e-12)
    k = int(within.max())  # the most reconstruction-heavy w inside one SE
    return WeightChoice(
        weight=float(ws[k]), rule=rule, best_weight=best_w, best_pr_auc=best_ap,
        pr_auc=float(aps[k]), se=se,
    )  # fmt: skip
