"""Scorers: a user's candidate rows and a context → probabilities → the F1-optimal basket.

`Scorer` is the interface the service is written against; `ModelScorer` is
the real one: a finished run's item and None models, its frozen statistics,
and basketcast's expected-F1 basket selection, exactly as `basketcast predict`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import polars as pl

from basketcast.basket.f1 import best_basket
from basketcast.config import RunConfig, load_config
from basketcast.data.dataset import Dataset
from basketcast.data.schema import ID
from basketcast.model.predict import load_manifest, load_models
from basketcast.serve import features
from basketcast.serve.domain import Context

__all__ = ["ModelScorer", "Scored", "Scorer", "model_version"]


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

    def base_rows(self, tables: Dataset) -> pl.DataFrame:
        """Context-free candidate rows of every user in `tables`, sorted by user and product."""
        ...

    def score(self, rows: pl.DataFrame, context: Context, *, order_id: int) -> Scored:
        """One user's answer for a target order with `context` (`rows`: that user's base rows)."""
        ...


def model_version(run_dir: Path) -> str:
    """A hash of the saved models' bytes: a retrain into the same folder changes it."""
    digest = hashlib.sha256()
    for path in sorted((run_dir / "models").glob("*_models.json")) + sorted(
        (run_dir / "models").glob("*.ubj")
    ):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


class _Models:
    """One model set (item or none): fold boosters and feature names, predicting on one thread."""

    def __init__(self, folder: Path, prefix: str) -> None:
        self.names: list[str] = list(load_manifest(folder, prefix=prefix)["feature_names"])
        self.boosters = load_models(folder, prefix=prefix)
        for booster in self.boosters.values():
            booster.set_param({"nthread": 1})  # requests run in parallel threads already

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        # Column by column: no Polars query (its fixed cost dominates on a few dozen rows).
        matrix = np.column_stack(
            [frame.get_column(c).cast(pl.Float32).to_numpy() for c in self.names]
        ).astype(np.float32, copy=False)
        # As `model.predict.predict_frame`: float64 sum over folds in fold order, mean, float32.
        total = np.zeros(len(frame), dtype=np.float64)
        for fold in sorted(self.boosters):
            total += self.boosters[fold].inplace_predict(matrix, missing=np.nan)
        return (total / len(self.boosters)).astype(np.float32)


class ModelScorer:
    """A finished run's models on top of the frozen statistics of its data."""

    def __init__(self, run_dir: str | Path, data: Dataset) -> None:
        self.run_dir = Path(run_dir)
        models = self.run_dir / "models"
        if not (models / "item_models.json").exists():
            raise FileNotFoundError(
                f"{models}: no item models saved (is {self.run_dir} a finished run?)"
            )
        self.config: RunConfig = load_config(self.run_dir / "config.toml")
        self.items = _Models(models, "item")
        self.none: _Models | None = None
        if self.config.basket.use_none_model and (models / "none_models.json").exists():
            self.none = _Models(models, "none")
        self.stats = features.fit_stats(data)
        self.version = model_version(self.run_dir)
        metrics = self.run_dir / "metrics.json"
        self.run_id = json.loads(metrics.read_text()).get("run_id", "") if metrics.exists() else ""

    def base_rows(self, tables: Dataset) -> pl.DataFrame:
        return features.base_rows(tables, self.stats)

    def score(self, rows: pl.DataFrame, context: Context, *, order_id: int) -> Scored:
        target = pl.DataFrame(
            {
                "order_id": [order_id],
                "order_dow": [context.order_dow],
                "order_hour_of_day": [context.order_hour_of_day],
                "days_since_prior_order": [context.days_since_prior_order],
            },
            schema={
                "order_id": ID,
                "order_dow": pl.Int8,
                "order_hour_of_day": pl.Int8,
                "days_since_prior_order": pl.Float32,
            },
        )
        rows = rows.with_columns(order_id=pl.lit(order_id, ID))
        items, order = features.with_context(rows, target, self.stats)
        p = self.items.predict(items)
        p_none: float | None = None
        if self.none is not None:
            p_none = float(self.none.predict(order)[0])
        products = items.get_column("product_id").to_numpy()
        # Rows are sorted by product id, so best_basket's ties (lower index first) are
        # select_baskets' ties (lower product id first).
        choice = best_basket(p.astype(np.float64), p_none)
        if p_none is None:
            p_none = float(np.prod(1.0 - p.astype(np.float64)))
        return Scored(
            products=tuple(int(products[i]) for i in choice.items),
            none=choice.with_none,
            expected_f1=choice.expected_f1,
            p_none=p_none,
            candidates={int(k): float(v) for k, v in zip(products, p, strict=True)},
        )
