"""The next-basket field's baselines on a run, and the next-basket metrics table.

Three rankings, each fitted on train orders only: P-TopFreq, GP-TopFreq
(`ranking`) and TIFU-KNN (`tifu_fit`, parameters tuned over its stated grid).
Each becomes baskets two ways (`to_baskets`): its top k (k tuned), and its
scores calibrated by isotonic regression then passed to basketcast's
expected-F1 selection. Their parameters, calibration and k are all fitted on
the train orders, so on those orders their F1 is in-sample (a small advantage
over basketcast's out-of-fold figure); on test orders nothing was fitted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from basketcast.data.dataset import Dataset
from basketcast.evaluate.intervals import paired_bootstrap
from basketcast.evaluate.nbr_metrics import nbr_metrics, per_order_nbr_metrics
from basketcast.evaluate.ranking import gp_topfreq, p_topfreq
from basketcast.evaluate.reading import read_truth
from basketcast.evaluate.targets import _history, _targets
from basketcast.evaluate.tifu_fit import TifuFit, fit_tifu
from basketcast.evaluate.to_baskets import (
    Calibrator,
    calibrated_baskets,
    fit_calibrator,
    top_k_baskets,
    truth_items,
    tune_top_k,
)

__all__ = ["TEST_NOTE", "FieldBaselines", "field_baselines", "nbr_table"]

PAIRED_METRIC = "recall_rep@10"
DEPTH = 20
"""Length of the rankings kept for the next-basket metrics (the largest k)."""
TEST_NOTE = "test orders: truth.csv holds reorders only, so only the repeat part is computed"
EXPLORE_NOTE = (
    "basketcast ranks only previously bought products, so its explore recall and NDCG are 0 "
    "by construction"
)


@dataclass(frozen=True)
class FieldBaselines:
    """The field's baselines fitted on one Dataset's train orders.

    Attributes
    ----------
    targets
        ``order_id`` of every target order (train and test).
    candidates
        Name → ``order_id, product_id, score``: what each baseline's F1 baskets choose from.
    rankings
        Name → ``order_id, product_id, score``: each baseline's ranked list for
        the next-basket metrics (at least `DEPTH` long where it can be).
    top_k, calibrators
        Name → the tuned basket size, and the isotonic score → probability map.
    tifu
        The TIFU-KNN fit (its tuned parameters and every setting tried).
    """

    targets: pl.DataFrame
    candidates: dict[str, pl.DataFrame]
    rankings: dict[str, pl.DataFrame]
    top_k: dict[str, int]
    calibrators: dict[str, Calibrator]
    tifu: TifuFit

    def baskets(self) -> dict[str, pl.DataFrame]:
        """Method name → submission of every target order, two per baseline."""
        out: dict[str, pl.DataFrame] = {}
        for name, scores in self.candidates.items():
            k = self.top_k[name]
            out[f"baseline: {name}, top {k}"] = top_k_baskets(scores, self.targets, k)
            out[f"baseline: {name} + isotonic + F1 maximiser"] = calibrated_baskets(
                scores, self.targets, self.calibrators[name]
            )
        return out

    def parameters(self) -> dict[str, Any]:
        """What was tuned on train orders, for metrics.json."""
        p = self.tifu.params
        return {
            "top_k": dict(self.top_k),
            "tifu_knn": {"m": p.m, "r_b": p.r_b, "r_g": p.r_g, "k": p.k, "alpha": p.alpha},
            "tifu_knn_train_f1": self.tifu.train_f1,
            "tifu_knn_settings_tried": self.tifu.tried.height,
        }


def field_baselines(dataset: Dataset, truth: pl.DataFrame, *, tune: bool = True) -> FieldBaselines:
    """Fit P-TopFreq, GP-TopFreq and TIFU-KNN on the train orders of `truth` (`truth_from_dataset`)."""
    targets = _targets(dataset, None)
    history = _history(dataset, targets)
    personal = p_topfreq(dataset, history=history)
    tifu = fit_tifu(history, truth, depth=DEPTH, tune=tune)
    candidates = {
        "P-TopFreq": personal,
        "GP-TopFreq": gp_topfreq(dataset, depth=DEPTH, history=history),
        "TIFU-KNN": tifu.repeat_scores,
    }
    rankings = {**candidates, "TIFU-KNN": tifu.top_scores}
    return FieldBaselines(
        targets=targets.select("order_id"),
        candidates=candidates,
        rankings=rankings,
        top_k={name: tune_top_k(scores, truth) for name, scores in candidates.items()},
        calibrators={name: fit_calibrator(scores, truth) for name, scores in candidates.items()},
        tifu=tifu,
    )


def nbr_table(
    dataset: Dataset,
    data: Path,
    oof: pl.DataFrame,
    predictions: pl.DataFrame,
    field: FieldBaselines | None,
    *,
    seed: int,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Recall@10/20 and NDCG@10/20 (all, repeat, explore) of basketcast and each baseline.

    Also returns, per set of orders and baseline, basketcast's repeat
    recall@10 minus the baseline's with a paired bootstrap 95 % interval.

    On the out-of-fold train orders every line of the target basket is known;
    on test orders (with truth.csv) only the reorders are, so only the repeat
    part is given there (the other parts are None, with `TEST_NOTE`).
    """
    targets = _targets(dataset, None)
    seen = _history(dataset, targets).select("order_id", "product_id").unique()
    ours = {
        "basketcast": pl.concat([oof, predictions])
        .filter((pl.col("kind") == "item") & (pl.col("depth") == 0))
        .select("order_id", "product_id", score=pl.col("p"))
    }
    rankings = ours | (field.rankings if field is not None else {})
    scored = oof.filter(pl.col("depth") == 0).select("order_id").unique()
    train_orders = targets.filter(pl.col("order_id").is_in(scored.get_column("order_id").implode()))
    sets = {
        "train (out of fold)": (
            dataset.train.join(train_orders.select("order_id"), on="order_id", how="semi"),
            "",
        )
    }
    truth_file = data / "truth.csv"
    if truth_file.exists():
        test = predictions.select("order_id").unique()
        test_truth = read_truth(truth_file).join(test, on="order_id", how="semi")
        reorders = truth_items(test_truth)
        sets["test"] = (reorders, TEST_NOTE)
    rows, paired = [], []
    for subset, (truth, note) in sets.items():
        per_order = {}
        for method, ranking in rankings.items():
            per_order[method] = per_order_nbr_metrics(ranking, truth, seen)
            metrics = nbr_metrics(ranking, truth, seen)
            if note:
                metrics = {
                    key: (None if ("_all@" in key or "_expl@" in key) else value)
                    for key, value in metrics.items()
                }
            notes = [n for n in (note, EXPLORE_NOTE if method == "basketcast" else "") if n]
            n = metrics.pop("orders")
            rows.append(
                {"method": method, "orders": subset, "n": n, **metrics, "note": "; ".join(notes)}
            )
        paired += _paired_repeat_recall(per_order, subset, seed=seed)
    return rows, paired


def _paired_repeat_recall(
    per_order: dict[str, pl.DataFrame], subset: str, *, seed: int
) -> list[dict[str, Any]]:
    """basketcast's repeat recall@10 minus each baseline's, over orders with repeat items."""

    def values(frame: pl.DataFrame) -> np.ndarray:
        return (
            frame.filter(pl.col("n_rep") > 0).sort("order_id").get_column(PAIRED_METRIC).to_numpy()
        )

    ours = values(per_order["basketcast"])
    out = []
    for method, frame in per_order.items():
        if method == "basketcast":
            continue
        theirs = values(frame)
        low, high = paired_bootstrap(ours, theirs, seed=seed)
        out.append(
            {
                "metric": PAIRED_METRIC,
                "baseline": method,
                "orders": subset,
                "n": len(ours),
                "mean_diff": float((ours - theirs).mean()) if len(ours) else float("nan"),
                "ci_low": low,
                "ci_high": high,
            }
        )
    return out
