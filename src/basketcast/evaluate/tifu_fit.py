"""TIFU-KNN on a Dataset: its parameters tuned on train orders, its rankings for every target.

Tuning grid (centred on the paper's Instacart settings, m = 3, r_b = 0.9,
r_g = 0.7, k = 900, α = 0.9):

- groups ``m ∈ {1, 3, 7}``, within-group decay ``r_b ∈ {0.7, 0.9, 1.0}``,
  group decay ``r_g ∈ {0.5, 0.7, 0.9}``: a coordinate search from the centre,
  one parameter at a time over its values with the others fixed, repeated
  until a full sweep changes nothing (at most `MAX_SWEEPS` sweeps);
- for each of those, every ``k ∈ {100, 300, 900}`` (capped at the number of
  other users) and ``α ∈ {0.5, 0.7, 0.9, 1.0}``;
- the objective is the mean F1, on train orders, of the top-k basket of the
  user's previously bought items (k in `to_baskets.K_GRID`), the figure the
  F1 table compares. Ties keep the earlier (closer to the centre) setting.

A user's vector and neighbours come from its orders before its target only,
so no target basket is seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from basketcast.evaluate.tifu_knn import (
    PAPER_INSTACART,
    TifuParams,
    UserBaskets,
    neighbours,
    parts_at,
    top_items,
    user_vectors,
)
from basketcast.evaluate.to_baskets import K_GRID, top_k_f1

__all__ = ["GRID", "MAX_SWEEPS", "TifuFit", "fit_tifu"]

GRID: dict[str, tuple[Any, ...]] = {
    "m": (3, 1, 7),
    "r_b": (0.9, 0.7, 1.0),
    "r_g": (0.7, 0.5, 0.9),
    "k": (900, 100, 300),
    "alpha": (0.9, 0.5, 0.7, 1.0),
}
"""Each parameter's values, the paper's Instacart setting first."""
MAX_SWEEPS = 2


@dataclass(frozen=True)
class TifuFit:
    """Tuned TIFU-KNN on one Dataset.

    Attributes
    ----------
    params
        The chosen parameters.
    train_f1
        The objective at `params` (best top-k mean F1 on train orders).
    repeat_scores
        ``order_id, product_id, score``: the prediction at every previously
        bought item of every target order (what the F1 baskets choose from).
    top_scores
        ``order_id, product_id, score``: every target order's `depth` best
        items over all items (the ranking for the next-basket metrics).
    tried
        Settings evaluated: ``m, r_b, r_g, k, alpha, train_f1``.
    """

    params: TifuParams
    train_f1: float
    repeat_scores: pl.DataFrame
    top_scores: pl.DataFrame
    tried: pl.DataFrame


class _Problem:
    """The target orders as TIFU-KNN's users, and the candidates that F1 scores."""

    def __init__(self, history: pl.DataFrame, truth: pl.DataFrame) -> None:
        self.orders = history.get_column("order_id").unique().sort()
        self.items = history.get_column("product_id").unique().sort()
        self.baskets = UserBaskets.from_lines(
            history.rename({"order_id": "user"}), users=self.orders, items=self.items
        )
        pairs = (
            history.select("order_id", "product_id")
            .unique()
            .join(
                pl.DataFrame({"order_id": self.orders, "row": np.arange(self.orders.len())}),
                on="order_id",
            )
            .join(
                pl.DataFrame({"product_id": self.items, "col": np.arange(self.items.len())}),
                on="product_id",
            )
            .sort("row", "col")
        )
        self.pairs = pairs.select("order_id", "product_id")
        self.rows = pairs.get_column("row").to_numpy()
        self.cols = pairs.get_column("col").to_numpy()
        self.truth = truth
        self._vectors: dict[tuple[int, float, float], Any] = {}

    def prepared(self, m: int, r_b: float, r_g: float) -> tuple[Any, np.ndarray]:
        key = (m, r_b, r_g)
        if key not in self._vectors:
            vectors = user_vectors(self.baskets, m=m, r_b=r_b, r_g=r_g)
            self._vectors = {key: (vectors, neighbours(vectors, max(GRID["k"])))}
        return self._vectors[key]

    def scores(self, params: TifuParams) -> pl.DataFrame:
        vectors, order = self.prepared(params.m, params.r_b, params.r_g)
        own, means = parts_at(vectors, order, [params.k], rows=self.rows, cols=self.cols)
        mean = means[params.k]
        return self.pairs.with_columns(score=params.alpha * own + (1 - params.alpha) * mean)

    def objective(self, m: int, r_b: float, r_g: float) -> list[dict[str, Any]]:
        """The objective for every (k, α) at one vector setting."""
        vectors, order = self.prepared(m, r_b, r_g)
        rows = []
        own, means = parts_at(vectors, order, GRID["k"], rows=self.rows, cols=self.cols)
        for k in GRID["k"]:
            for alpha in GRID["alpha"]:
                frame = self.pairs.with_columns(score=alpha * own + (1 - alpha) * means[k])
                f1 = float(top_k_f1(frame, self.truth, ks=K_GRID).max())
                rows.append(
                    {"m": m, "r_b": r_b, "r_g": r_g, "k": k, "alpha": alpha, "train_f1": f1}
                )
        return rows


def fit_tifu(
    history: pl.DataFrame, train_truth: pl.DataFrame, *, depth: int = 20, tune: bool = True
) -> TifuFit:
    """Tune TIFU-KNN on the train orders of `train_truth` and rank every target order.

    Parameters
    ----------
    history
        ``order_id`` (the target), ``order_number``, ``product_id``: the lines
        of each target's earlier orders (`targets._history`), train and test.
    train_truth
        ``order_id, products`` of the train orders (`truth_from_dataset`).
    depth
        Length of the all-item ranking kept per order (`TifuFit.top_scores`).
    tune
        False: use the paper's Instacart settings, untuned.
    """
    problem = _Problem(history, train_truth)
    tried: list[dict[str, Any]] = []
    seen: set[tuple[int, float, float]] = set()

    def best_of(m: int, r_b: float, r_g: float) -> dict[str, Any]:
        if (m, r_b, r_g) not in seen:
            seen.add((m, r_b, r_g))
            tried.extend(problem.objective(m, r_b, r_g))
        mine = [r for r in tried if (r["m"], r["r_b"], r["r_g"]) == (m, r_b, r_g)]
        return max(mine, key=lambda r: r["train_f1"])  # first of equals: grid order

    centre = PAPER_INSTACART
    current: dict[str, Any] = {"m": centre.m, "r_b": centre.r_b, "r_g": centre.r_g}
    best = best_of(**current)
    for _ in range(MAX_SWEEPS if tune else 0):
        changed = False
        for name in ("m", "r_b", "r_g"):
            for value in GRID[name]:
                trial = best_of(**{**current, name: value})
                if trial["train_f1"] > best["train_f1"]:
                    best, current, changed = trial, {**current, name: value}, True
        if not changed:
            break
    params = (
        TifuParams(m=best["m"], r_b=best["r_b"], r_g=best["r_g"], k=best["k"], alpha=best["alpha"])
        if tune
        else centre
    )
    vectors, order = problem.prepared(params.m, params.r_b, params.r_g)
    rows, cols, scores = top_items(vectors, order, params, depth)
    top = pl.DataFrame(
        {
            "order_id": problem.orders.gather(rows),
            "product_id": problem.items.gather(cols),
            "score": scores,
        }
    )
    key = (params.m, params.r_b, params.r_g, params.k, params.alpha)
    chosen = next(r for r in tried if (r["m"], r["r_b"], r["r_g"], r["k"], r["alpha"]) == key)
    return TifuFit(
        params=params,
        train_f1=float(chosen["train_f1"]),
        repeat_scores=problem.scores(params),
        top_scores=top,
        tried=pl.DataFrame(tried),
    )
