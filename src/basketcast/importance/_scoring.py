"""Out-of-fold scores of a set of candidate probabilities: log loss, AUC and basket F1, per user.

Shared by LOFO and the tuner. Truth comes from the labels themselves: an
order's true basket is its candidates labelled 1 (``None`` when there are none),
which is what `basketcast.evaluate.truth_from_dataset` gives for train orders.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from basketcast.basket import select_baskets
from basketcast.evaluate import NONE_TOKEN, per_order_f1
from basketcast.model import log_loss, roc_auc

__all__ = ["OofScores", "basket_f1", "oof_scores", "paired_bootstrap"]

_EPS = 1e-15


def basket_f1(rows: pl.DataFrame) -> pl.DataFrame:
    """Per-order F1 of the expected-F1 baskets (``p_none = prod(1 - p)``) against the labels.

    Parameters
    ----------
    rows
        ``order_id, product_id, label, p``: every candidate of each order.

    Returns
    -------
    pl.DataFrame
        ``order_id, f1``, sorted by order_id.
    """
    baskets = select_baskets(rows.select("order_id", "product_id", "p"))
    truth = (
        rows.group_by("order_id")
        .agg(pl.col("product_id").filter(pl.col("label") == 1).cast(pl.String).str.join(" "))
        .select(
            "order_id",
            products=pl.when(pl.col("product_id") == "")
            .then(pl.lit(NONE_TOKEN))
            .otherwise(pl.col("product_id")),
        )
    )
    return per_order_f1(baskets.select("order_id", "products"), truth)


@dataclass(frozen=True)
class OofScores:
    """Scores of one set of probabilities over the same rows, with per-user sums for intervals.

    ``users`` is sorted; ``loss_sum[i]`` / ``rows[i]`` are user i's summed log
    loss and row count, ``f1[i]`` the F1 of user i's (single, depth-0) order.
    """

    logloss: float
    auc: float
    f1: float
    users: np.ndarray
    loss_sum: np.ndarray
    rows: np.ndarray
    f1_per_user: np.ndarray


def oof_scores(rows: pl.DataFrame, p: np.ndarray) -> OofScores:
    """Log loss, AUC and basket F1 of `p` on `rows` (``order_id, user_id, product_id, label``).

    `rows` are depth-0 rows: one target order per user.
    """
    y = rows.get_column("label").to_numpy().astype(np.float64)
    clipped = np.clip(p.astype(np.float64), _EPS, 1 - _EPS)
    loss = -(y * np.log(clipped) + (1 - y) * np.log1p(-clipped))
    per_user = (
        rows.select("user_id", "order_id")
        .with_columns(loss=pl.Series(loss))
        .group_by("user_id")
        .agg(pl.col("loss").sum(), pl.len().alias("n"), pl.col("order_id").first())
        .sort("user_id")
    )
    f1 = basket_f1(rows.select("order_id", "product_id", "label").with_columns(p=pl.Series(p)))
    f1_user = per_user.join(f1, on="order_id", how="left").get_column("f1").to_numpy()
    return OofScores(
        logloss=log_loss(y, p),
        auc=roc_auc(y, p),
        f1=float(f1_user.mean()),
        users=per_user.get_column("user_id").to_numpy(),
        loss_sum=per_user.get_column("loss").to_numpy(),
        rows=per_user.get_column("n").to_numpy().astype(np.float64),
        f1_per_user=f1_user,
    )


def paired_bootstrap(
    numerators: np.ndarray, denominators: np.ndarray, *, seed: int, draws: int = 1000
) -> np.ndarray:
    """95 % percentile intervals of ratios of sums, resampling users with replacement.

    Parameters
    ----------
    numerators
        ``(k, users)``: k per-user quantities (e.g. a change in summed log loss).
    denominators
        ``(users,)``: what each ratio divides by (rows, or 1 per user for a mean).

    Returns
    -------
    np.ndarray
        ``(k, 2)``: low and high of each ratio. The same resamples serve every
        row, so the k intervals are paired with each other too.
    """
    n = denominators.shape[0]
    rng = np.random.default_rng(seed)
    out = np.empty((numerators.shape[0], draws))
    for start in range(0, draws, 100):  # 100 resamples at a time bounds the weight matrix
        size = min(100, draws - start)
        weights = rng.multinomial(n, np.full(n, 1.0 / n), size=size).astype(np.float64)
        out[:, start : start + size] = (weights @ numerators.T).T / (weights @ denominators)
    return np.quantile(out, [0.025, 0.975], axis=1).T
