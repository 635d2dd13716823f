"""Scorers: users' candidate rows and contexts → probabilities → F1-optimal baskets.

`Scorer` is the interface the service is written against; `ModelScorer` is
the real one: a finished run's item and None models, its saved feature
statistics, and basketcast's expected-F1 basket selection, as `basketcast predict`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import polars as pl

from basketcast.basket.f1 import best_basket
from basketcast.config import PNone, RunConfig, load_config
from basketcast.data.dataset import Dataset
from basketcast.data.schema import ID
from basketcast.features.context import CONTEXT
from basketcast.features.stats import FittedStats
from basketcast.inference import published_run, saved_p_none
from basketcast.model.predict import load_manifest, load_models
from basketcast.model.stacking import stack_orders
from basketcast.pipeline import STATS_DIR
from basketcast.serve.domain import Context
from basketcast.serve.fast import FastFinish
from basketcast.serve.features import ServingFeatures
from basketcast.serve.forest import CompiledForest

__all__ = ["Job", "ModelScorer", "Scored", "Scorer", "model_version"]

Job = tuple[pl.DataFrame, Context]
"""One answer to compute: a user's base rows and the next order's context."""


@dataclass(frozen=True)
class Scored:
    """Probabilities of one target order and the basket chosen from them."""

    products: tuple[int, ...]
    none: bool
    expected_f1: float
    p_none: float
    candidates: dict[int, float]


class Scorer(Protocol):
    """What the service needs from a model."""

    version: str
    """Changes whenever the models or statistics change; reported by /v1/health and /metrics."""
    run_id: str

    def base_rows(self, tables: Dataset) -> pl.DataFrame:
        """Context-free candidate rows of every user in `tables`, sorted by user and product."""
        ...

    def score_many(self, jobs: Sequence[Job]) -> list[Scored]:
        """The answer of every job, in order."""
        ...


def model_version(run_dir: Path) -> str:
    """A hash of the run's configuration, models, p(None) choice and statistics: a re-run changes it."""
    digest = hashlib.sha256()
    models, stats = run_dir / "models", run_dir / STATS_DIR
    paths = [run_dir / "config.toml"]
    # *.json: the model manifests and p_none.json (the run's p(None) choice).
    paths += [*sorted(models.glob("*.json")), *sorted(models.glob("*.ubj"))]
    paths += [*sorted(stats.glob("*.json")), *sorted(stats.glob("*.parquet"))]
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


class _Models:
    """One model set (item or none): fold boosters and feature names, predicting on one thread."""

    def __init__(self, folder: Path, prefix: str) -> None:
        self.names: list[str] = list(load_manifest(folder, prefix=prefix)["feature_names"])
        self.boosters = load_models(folder, prefix=prefix)
        for booster in self.boosters.values():
            booster.set_param({"nthread": 1})  # the service sizes its own concurrency
        # The same trees walked by compiled code where that gives the booster's exact answers
        # (None: XGBoost predicts); a request's few rows cost a fraction of inplace_predict.
        self.forests = {fold: CompiledForest.of(b) for fold, b in self.boosters.items()}

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        # Column by column, no Polars query: its fixed cost dominates on small batches.
        matrix = np.column_stack([frame.get_column(c).to_numpy() for c in self.names])
        return self.predict_matrix(matrix.astype(np.float32, copy=False))

    def predict_matrix(self, matrix: np.ndarray) -> np.ndarray:
        """p for a float32 matrix whose columns are `names` (NaN: missing)."""
        # As `model.predict.predict_frame`: float64 sum over folds in fold order, mean, float32.
        total = np.zeros(matrix.shape[0], dtype=np.float64)
        for fold in sorted(self.boosters):
            forest = self.forests[fold]
            if forest is None:
                total += self.boosters[fold].inplace_predict(matrix, missing=np.nan)
            else:
                total += forest.predict(matrix)
        return (total / len(self.boosters)).astype(np.float32)


_TARGET = {
    "order_id": ID,
    "order_dow": pl.Int8,
    "order_hour_of_day": pl.Int8,
    "days_since_prior_order": pl.Float32,
}


class ModelScorer:
    """A finished run's models and saved feature statistics."""

    def __init__(self, run_dir: str | Path) -> None:
        # One published invocation, its models checked against run.json, as `predict` reads it.
        self.run_dir = published_run(Path(run_dir))
        models = self.run_dir / "models"
        if not (models / "item_models.json").exists():
            raise FileNotFoundError(
                f"{models}: no item models saved (is {self.run_dir} a finished run?)"
            )
        self.config: RunConfig = load_config(self.run_dir / "config.toml")
        self.items = _Models(models, "item")
        # p(None) as the run chose it (models/p_none.json), as `basketcast predict`.
        self.p_none = saved_p_none(models)
        self.none: _Models | None = None
        if self.p_none in (PNone.MODEL, PNone.BLEND) and (models / "none_models.json").exists():
            self.none = _Models(models, "none")
        stats = FittedStats.load(self.run_dir / STATS_DIR)
        self.features = ServingFeatures(self.config.features, stats)
        # Set once the families are planned (first `base_rows`): the NumPy request path.
        self._fast: FastFinish | None = None
        self.version = model_version(self.run_dir)
        metrics = self.run_dir / "metrics.json"
        self.run_id = json.loads(metrics.read_text()).get("run_id", "") if metrics.exists() else ""

    def base_rows(self, tables: Dataset) -> pl.DataFrame:
        rows = self.features.base_rows(tables)
        if self._fast is None and self.features.context_only and not self.config.model.stack_none:
            self._fast = FastFinish(
                self.features.stats.of(CONTEXT.name)["dow"],
                self.items.names,
                None if self.none is None else self.none.names,
            )
        return rows

    def score_many(self, jobs: Sequence[Job]) -> list[Scored]:
        """Many answers in one pass: one feature plan and one predict call per model.

        Each job becomes its own target order (ids -1, -2, ...; the same user
        may come twice with two contexts). A row's features and probability
        depend only on its own order, so batching changes no answer; it only
        spreads the fixed cost of a Polars query and a predict call.
        """
        if not jobs:
            return []
        lengths = np.array([rows.height for rows, _ in jobs], dtype=np.int64)
        if self._fast is not None:
            return self._score_fast(jobs, lengths)
        ids = -np.arange(1, len(jobs) + 1, dtype=np.int64)
        order_of_row = np.repeat(ids, lengths)
        rows = pl.concat([rows for rows, _ in jobs], rechunk=False).with_columns(
            order_id=pl.Series(order_of_row, dtype=ID)
        )
        contexts = [context for _, context in jobs]
        targets = pl.DataFrame(
            {
                "order_id": ids,
                "order_dow": [c.order_dow for c in contexts],
                "order_hour_of_day": [c.order_hour_of_day for c in contexts],
                "days_since_prior_order": [c.days_since_prior_order for c in contexts],
            },
            schema=_TARGET,
        )
        items, orders = self.features.finish(rows, targets)
        if not np.array_equal(items.get_column("order_id").to_numpy(), order_of_row):
            raise RuntimeError("the feature plan changed the row order")  # joins keep it
        p = self.items.predict(items)
        p_none: list[float | None] = [None] * len(jobs)
        if self.none is not None:
            if self.config.model.stack_none:  # the None model reads the item model's p
                orders = stack_orders(orders, items.select("order_id", p=pl.Series(p)))
            predicted = self.none.predict(orders)
            index = {int(o): k for k, o in enumerate(orders.get_column("order_id").to_list())}
            p_none = [float(predicted[index[int(i)]]) for i in ids]
            if self.p_none is PNone.BLEND:  # the mean with prod(1 - p), as `p_none_values`
                p_none = _blend(p_none, p, lengths)
        products = items.get_column("product_id").to_numpy()
        ends = np.cumsum(lengths)
        return [
            _choose(products[end - n : end], p[end - n : end], p_none[j])
            for j, (n, end) in enumerate(zip(lengths, ends, strict=True))
        ]

    def _score_fast(self, jobs: Sequence[Job], lengths: np.ndarray) -> list[Scored]:
        """`score_many` through `FastFinish`: the same answers without a Polars query."""
        assert self._fast is not None
        # Most batches under load are one request: its rows are read in place (a slice of
        # the bulk frame), as copying them into a new frame cost a tenth of the loop's time.
        rows = jobs[0][0] if len(jobs) == 1 else pl.concat([r for r, _ in jobs], rechunk=True)
        items, orders = self._fast.matrices(rows, lengths, [context for _, context in jobs])
        p = self.items.predict_matrix(items)
        p_none: list[float | None] = [None] * len(jobs)
        if self.none is not None and orders is not None:
            p_none = [float(v) for v in self.none.predict_matrix(orders)]
            if self.p_none is PNone.BLEND:
                p_none = _blend(p_none, p, lengths)
        products = rows.get_column("product_id").to_numpy()
        ends = np.cumsum(lengths)
        return [
            _choose(products[end - n : end], p[end - n : end], p_none[j])
            for j, (n, end) in enumerate(zip(lengths, ends, strict=True))
        ]


def _blend(model: list[float | None], p: np.ndarray, lengths: np.ndarray) -> list[float | None]:
    """The mean of the None model's p(None) and prod(1 - p), as `p_none_values`."""
    log_q = np.log(np.clip(1.0 - p.astype(np.float64), 1e-12, 1.0))
    ends = np.cumsum(lengths)
    return [
        min(max(0.5 * (m + float(np.exp(log_q[end - n : end].sum()))), 0.0), 1.0)
        for m, n, end in zip(model, lengths, ends, strict=True)
        if m is not None
    ]


def _choose(products: np.ndarray, p: np.ndarray, p_none: float | None) -> Scored:
    # Rows come sorted by product id, so best_basket's ties (lower index first) are
    # select_baskets' ties (lower product id first).
    p64 = p.astype(np.float64)
    choice = best_basket(p64, p_none)
    return Scored(
        products=tuple(int(products[i]) for i in choice.items),
        none=choice.with_none,
        expected_f1=choice.expected_f1,
        p_none=float(np.prod(1.0 - p64)) if p_none is None else p_none,
        candidates={int(k): float(v) for k, v in zip(products, p, strict=True)},
    )
