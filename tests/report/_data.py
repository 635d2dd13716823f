"""A tiny hand-made history with a known reorder ratio per department, and fake model results."""

from __future__ import annotations

import numpy as np
import polars as pl

from basketcast._meter import StageRecord
from basketcast.data import schema
from basketcast.data.dataset import Dataset
from basketcast.report import ReportInputs

SCRIPT_NAME = '<script>alert("x")</script> Chips'
DOLLAR_NAME = "Price $^$ typo"  # invalid mathtext if not escaped
ACCENT_NAME = "Crème fraîche 日本"  # a glyph DejaVu lacks: must not warn

# order_id, user_id, eval_set, order_number, dow, hour, days_since_prior_order
ORDERS = [
    (1, 1, "prior", 1, 0, 8, None),
    (2, 1, "prior", 2, 1, 9, 7.0),
    (3, 1, "train", 3, 2, 10, 30.0),
    (4, 2, "prior", 1, 6, 23, None),
    (5, 2, "prior", 2, 0, 0, 3.0),
    (6, 2, "test", 3, 3, 14, 2.0),
]
# order_id, product_id. User 1 buys product 1 three times (2 reorders) and
# product 2 once; user 2 buys product 2 twice (1 reorder) and product 3 once.
PRIOR = [(1, 1), (1, 2), (2, 1), (4, 2), (4, 3), (5, 2)]
TRAIN = [(3, 1)]
# product_id, name, aisle, department: department 10 holds products 1 and 3
# (4 lines, 2 reorders: 0.5); department 20 holds product 2 (3 lines, 1 reorder).
PRODUCTS = [(1, ACCENT_NAME, 1, 10), (2, SCRIPT_NAME, 2, 20), (3, DOLLAR_NAME, 1, 10)]
DEPARTMENTS = [(10, "dairy eggs"), (20, "snacks & <b>bold</b>")]


def _table(rows: list[tuple], table: schema.TableSchema) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=list(table.columns), orient="row").cast(table.columns)


def _lines(pairs: list[tuple[int, int]], table: schema.TableSchema) -> pl.DataFrame:
    # `reordered` is deliberately wrong (always 1): the report must not read it.
    rows = [(o, p, i + 1, 1) for i, (o, p) in enumerate(pairs)]
    return _table(rows, table)


def make_dataset(
    *, products: bool = True, departments: bool = True, order_offset: int = 0
) -> Dataset:
    """The hand-made history; `order_offset` is added to every order id."""
    shift = pl.col("order_id") + order_offset
    return Dataset(
        orders=_table(ORDERS, schema.ORDERS).with_columns(shift),
        prior=_lines(PRIOR, schema.PRIOR).with_columns(shift),
        train=_lines(TRAIN, schema.TRAIN).with_columns(shift),
        products=_table(PRODUCTS, schema.PRODUCTS) if products else None,
        departments=_table(DEPARTMENTS, schema.DEPARTMENTS) if departments else None,
        warnings=("reordered disagrees with the history on 3 lines",),
    )


def feature_names(k: int) -> list[str]:
    """`k` feature names described in the feature registry."""
    from basketcast.features.registry import REGISTRY

    names = sorted(REGISTRY.descriptions())[:k]
    assert len(names) == k, "the feature registry is unexpectedly small"
    return names


def make_inputs() -> ReportInputs:
    """Fake but plausible results of a run, with text that must be escaped."""
    rng = np.random.default_rng(7)
    features = feature_names(5)
    folds = 3
    importance = pl.DataFrame(
        {
            "feature": [f for f in features for _ in range(folds)],
            "fold": list(range(folds)) * len(features),
            "gain": rng.gamma(2.0, 10.0, folds * len(features)),
        }
    )
    fold_metrics = pl.DataFrame(
        {
            "model": ["item"] * folds + ["none"] * folds,
            "fold": list(range(folds)) * 2,
            "n_train": [800] * 2 * folds,
            "n_valid": [400] * 2 * folds,
            "best_iteration": [57, 61, 49, 20, 25, 18],
            "logloss": rng.uniform(0.2, 0.3, 2 * folds),
            "auc": rng.uniform(0.8, 0.85, 2 * folds),
            "seconds": rng.uniform(0.5, 2.0, 2 * folds),
        }
    )
    f1 = pl.DataFrame(
        {
            "method": [
                "basketcast (None model)",
                "basketcast (p_none = ∏(1−p))",
                "baseline: <last order>",
            ],
            "orders": [1200, 1200, 1200],
            "mean_f1": [0.391, 0.385, 0.321],
            "ci_low": [0.379, 0.373, 0.309],
            "ci_high": [0.403, 0.397, 0.333],
        }
    )
    p = np.linspace(0.05, 0.95, 10)
    calibration = pl.DataFrame(
        {
            "p_mean": p,
            "y_mean": np.clip(p + rng.normal(0, 0.02, 10), 0, 1),
            "n": [900, 500, 300, 200, 150, 100, 80, 60, 40, 0],
        }
    )
    return ReportInputs(
        title="Report <test> & co",
        summary=[("run id", "r-123"), ("config hash", "abc<def>")],
        f1_table=f1,
        fold_metrics=fold_metrics,
        importance=importance,
        calibration=calibration,
        basket_sizes=pl.Series("size", rng.poisson(4, 300)),
        stages=[
            StageRecord("load", 0.4, 180.0),
            StageRecord("features", 3.2, 950.5),
            StageRecord("train", 12.0, 1400.0, cached=True),
        ],
        config_toml='[model]\nmax_depth = 8\nnote = "<&>"\n',
        notes=["Trained on <fake> results & checked."],
    )
