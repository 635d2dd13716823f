"""A run's evaluation: the F1 table with bootstrap intervals, paired differences, calibration.

`evaluate_run` is what the pipeline's evaluate stage calls. It scores every
method (basketcast and the baselines) on the orders a run can be scored on:
the train orders out of fold, and the test orders when ``truth.csv`` is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from basketcast.basket import select_baskets
from basketcast.basket.p_none import p_none_values
from basketcast.config import PNone
from basketcast.data.dataset import Dataset
from basketcast.evaluate.baselines import (
    baseline_frequency,
    baseline_frequency_f1,
    baseline_last_basket,
    baseline_none,
    purchase_shares,
    tune_frequency_threshold,
)
from basketcast.evaluate.field import FieldBaselines, field_baselines, nbr_table
from basketcast.evaluate.intervals import bootstrap, paired_bootstrap
from basketcast.evaluate.metric import _per_order_f1
from basketcast.evaluate.reading import read_truth
from basketcast.evaluate.targets import truth_from_dataset
from basketcast.model import metrics as model_metrics

__all__ = [
    "OURS_BY_CHOICE",
    "baskets_of",
    "bootstrap",
    "calibration",
    "evaluate_run",
    "paired_bootstrap",
    "split_probabilities",
]

TRAIN_OOF = "train (out of fold)"
TEST = "test"
ALL = "all last baskets"
OURS = "basketcast (p_none = prod(1 - p))"
OURS_NONE = "basketcast (None model)"
OURS_BLEND = "basketcast (p_none = blend)"
OURS_BY_CHOICE = {PNone.INDEPENDENT: OURS, PNone.MODEL: OURS_NONE, PNone.BLEND: OURS_BLEND}
"""The F1 table's name of basketcast's baskets with each p(None) source (`basket.p_none`)."""
FIELD_MAX_ORDERS = 10_000
"""Runs with more target orders skip the field's baselines (TIFU-KNN's all-pairs search)."""


def evaluate_run(
    dataset: Dataset,
    data: Path,
    oof: pl.DataFrame,
    predictions: pl.DataFrame,
    *,
    seed: int,
    has_none: bool,
    choice: PNone,
) -> dict[str, Any]:
    """Out-of-fold F1 on train orders, F1 on test orders when truth.csv is given, and baselines.

    The field's baselines (P-TopFreq, GP-TopFreq, TIFU-KNN; `evaluate.field`)
    run only when the data has at most `FIELD_MAX_ORDERS` target orders:
    TIFU-KNN's neighbour search compares every pair of users, minutes at ten
    thousand users and hours at Instacart's 206,209.

    Returns
    -------
    dict
        ``f1`` (the headline row and the best baseline), ``f1_table`` (every
        method × set of orders, with 95 % bootstrap intervals), ``paired``
        (basketcast minus each baseline, per order, with paired 95 %
        intervals), ``nbr_metrics`` (recall / NDCG @10, @20, repeat and
        explore), ``paired_nbr`` (basketcast's repeat recall@10 minus each
        baseline's, paired intervals), ``baseline_parameters``, ``frequency_threshold``,
        ``calibration_ece`` and ``calibration``.
    """
    truth = truth_from_dataset(dataset)
    truth_sets = _truth_sets(truth, data, oof, predictions)
    shares = purchase_shares(dataset)  # for the three frequency baselines
    threshold = tune_frequency_threshold(dataset, truth, shares=shares)
    n_targets = dataset.target_orders().height
    # TIFU-KNN compares every user with every other: quadratic, so it is left out of big runs.
    field = field_baselines(dataset, truth) if n_targets <= FIELD_MAX_ORDERS else None
    probabilities = pl.concat([oof, predictions])
    methods = _methods(dataset, data, probabilities, threshold, shares, has_none, field)
    table = [
        _f1_row(method, baskets, subset, subset_truth, seed=seed)
        for method, baskets in methods.items()
        for subset, subset_truth in truth_sets.items()
    ]
    chosen = OURS_BY_CHOICE[choice if has_none else PNone.INDEPENDENT]
    subset = ALL if ALL in truth_sets else TRAIN_OOF
    headline = next(r for r in table if r["method"] == chosen and r["orders"] == subset)
    baselines = [r for r in table if r["method"].startswith("baseline") and r["orders"] == subset]
    paired = [
        paired_row(chosen, methods[chosen], name, baskets, subset, truth_sets[subset], seed=seed)
        for name, baskets in methods.items()
        if name.startswith("baseline")
    ]
    nbr, paired_nbr = nbr_table(dataset, data, oof, predictions, field, seed=seed)
    parameters: dict[str, Any] = (
        field.parameters()
        if field is not None
        else {
            "skipped": f"{n_targets:,} target orders, above {FIELD_MAX_ORDERS:,}: P-TopFreq, "
            "GP-TopFreq and TIFU-KNN were not run"
        }
    )
    return {
        "f1": {"method": chosen, **headline, "best_baseline": max(baselines, key=_mean_f1)},
        "f1_table": table,
        "paired": paired,
        "nbr_metrics": nbr,
        "paired_nbr": paired_nbr,
        "baseline_parameters": parameters,
        "frequency_threshold": threshold,
        **calibration(dataset, oof),
    }


def _truth_sets(
    truth: pl.DataFrame, data: Path, oof: pl.DataFrame, predictions: pl.DataFrame
) -> dict[str, pl.DataFrame]:
    """The orders a run can be scored on: train orders out of fold, and test orders with truth.csv."""
    scored = oof.filter(pl.col("depth") == 0).select("order_id").unique()
    sets = {TRAIN_OOF: truth.join(scored, on="order_id", how="semi")}
    truth_file = data / "truth.csv"
    if truth_file.exists():
        test = predictions.select("order_id").unique()
        sets[TEST] = read_truth(truth_file).join(test, on="order_id", how="semi")
        sets[ALL] = pl.concat([sets[TRAIN_OOF], sets[TEST]])
    return sets


def split_probabilities(probabilities: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Depth-0 item rows (order_id, product_id, p) and None rows (order_id, p_none, or None)."""
    rows = probabilities.filter(pl.col("depth") == 0)
    items = rows.filter(pl.col("kind") == "item").select("order_id", "product_id", "p")
    none = rows.filter(pl.col("kind") == "none").select("order_id", p_none=pl.col("p"))
    return items, none if none.height else None


def baskets_of(probabilities: pl.DataFrame, *, choice: PNone) -> pl.DataFrame:
    """F1-optimal baskets of the depth-0 orders in a probability table (oof / predictions layout),
    p(None) from ``choice`` (`basket.p_none`, resolved)."""
    items, none = split_probabilities(probabilities)
    return select_baskets(items, p_none_values(items, none, choice))


def _methods(
    dataset: Dataset,
    data: Path,
    probabilities: pl.DataFrame,
    threshold: float,
    shares: pl.DataFrame,
    has_none: bool,
    field: FieldBaselines | None,
) -> dict[str, pl.DataFrame]:
    """Baskets of every method compared in the F1 table, ours first."""
    choices = (PNone.INDEPENDENT, PNone.MODEL, PNone.BLEND) if has_none else (PNone.INDEPENDENT,)
    methods = {OURS_BY_CHOICE[c]: baskets_of(probabilities, choice=c) for c in choices}
    true_probs = data / "true_probs.parquet"
    if true_probs.exists():  # synthetic data: the generator's probabilities bound what is reachable
        oracle = pl.read_parquet(true_probs).select("order_id", "product_id", p="p_true")
        methods["oracle: true probabilities + F1 maximiser"] = select_baskets(oracle)
    frequency = baseline_frequency(dataset, threshold, shares=shares)
    return (
        methods
        | {
            "baseline: None for every order": baseline_none(dataset),
            "baseline: repeat the last basket": baseline_last_basket(dataset),
            f"baseline: personal frequency >= {threshold:.2f}": frequency,
            "baseline: personal frequency + F1 maximiser": baseline_frequency_f1(
                dataset, shares=shares
            ),
        }
        | (field.baskets() if field is not None else {})
    )


def _f1_row(
    method: str, baskets: pl.DataFrame, subset: str, truth: pl.DataFrame, *, seed: int
) -> dict[str, Any]:
    # Our own baskets and truths: score them without re-validating every token.
    f1 = _per_order_f1(baskets.select("order_id", "products"), truth)
    values = f1.get_column("f1").to_numpy()
    low, high = bootstrap(values, seed=seed)
    mean = float(values.mean()) if values.size else float("nan")
    return {
        "method": method,
        "orders": subset,
        "n": f1.height,
        "mean_f1": mean,
        "ci_low": low,
        "ci_high": high,
    }


def paired_row(
    ours: str,
    our_baskets: pl.DataFrame,
    baseline: str,
    baseline_baskets: pl.DataFrame,
    subset: str,
    truth: pl.DataFrame,
    *,
    seed: int,
) -> dict[str, Any]:
    """Mean per-order F1 of `ours` minus `baseline` on `truth`'s orders, with a paired interval."""
    a = _per_order_f1(our_baskets.select("order_id", "products"), truth)
    b = _per_order_f1(baseline_baskets.select("order_id", "products"), truth)
    diff = a.get_column("f1").to_numpy() - b.get_column("f1").to_numpy()  # both sorted by order
    low, high = paired_bootstrap(
        a.get_column("f1").to_numpy(), b.get_column("f1").to_numpy(), seed=seed
    )
    return {
        "method": ours,
        "baseline": baseline,
        "orders": subset,
        "n": len(diff),
        "mean_diff": float(diff.mean()) if diff.size else float("nan"),
        "ci_low": low,
        "ci_high": high,
        "wins": int((diff > 0).sum()),
        "losses": int((diff < 0).sum()),
    }


def _mean_f1(row: dict[str, Any]) -> float:
    return float(row["mean_f1"])


def calibration(dataset: Dataset, oof: pl.DataFrame) -> dict[str, Any]:
    """Expected calibration error and reliability table of the item model (depth 0, out of fold)."""
    rows = oof.filter((pl.col("kind") == "item") & (pl.col("depth") == 0))
    if rows.is_empty():
        return {"calibration_ece": None, "calibration": []}
    labels = (
        dataset.train.select("order_id", "product_id")
        .join(rows.select("order_id").unique(), on="order_id", how="semi")
        .with_columns(label=pl.lit(1, pl.Int8))
    )
    labelled = rows.join(labels, on=["order_id", "product_id"], how="left")
    y = labelled.get_column("label").fill_null(0).to_numpy()
    p = labelled.get_column("p").to_numpy()
    table = (
        model_metrics.calibration_table(y, p)
        .filter(pl.col("count") > 0)
        .select(p_mean="mean_p", y_mean="mean_y", n="count")
    )
    return {
        "calibration_ece": model_metrics.expected_calibration_error(y, p),
        "calibration": table.to_dicts(),
    }
