"""Evaluation: the Kaggle metric, submission files, baselines, next-basket metrics, scoring.

One module per job:

- `reading`: submission and truth files (``order_id,products``), checked;
- `metric`: the Kaggle mean F1 per order (``None`` as a token);
- `targets`: target orders, their history and the truth of train orders;
- `baselines`: the F1 table's simple rules (None, last basket, frequency);
- `ranking`: the next-basket field's frequency rankings (P-TopFreq, GP-TopFreq);
- `tifu_knn`: TIFU-KNN (Hu et al., SIGIR 2020);
- `to_baskets`: a ranking baseline's scores → baskets (top-k, or calibrated
  probabilities + the expected-F1 maximiser), tuned on train orders;
- `tifu_fit`: TIFU-KNN's parameters tuned on a Dataset's train orders;
- `field`: the three field baselines on a run, and the next-basket metrics table;
- `nbr_metrics`: recall@k and NDCG@k, split into repeat and explore items;
- `intervals`: bootstrap intervals, one method's or paired;
- `scoring`: a run's F1 table, paired differences and calibration (the
  pipeline's evaluate stage).

Everything public is re-exported here, so ``from basketcast.evaluate import X``
keeps working.
"""

from __future__ import annotations

from basketcast.evaluate.baselines import (
    DEFAULT_THRESHOLDS,
    baseline_frequency,
    baseline_frequency_f1,
    baseline_last_basket,
    baseline_none,
    purchase_shares,
    tune_frequency_threshold,
)
from basketcast.evaluate.metric import mean_f1, per_order_f1
from basketcast.evaluate.reading import NONE_TOKEN, read_submission, read_truth
from basketcast.evaluate.targets import truth_from_dataset

__all__ = [
    "DEFAULT_THRESHOLDS",
    "NONE_TOKEN",
    "baseline_frequency",
    "baseline_frequency_f1",
    "baseline_last_basket",
    "baseline_none",
    "mean_f1",
    "per_order_f1",
    "purchase_shares",
    "read_submission",
    "read_truth",
    "truth_from_dataset",
    "tune_frequency_threshold",
]
