"""The Kaggle metric: mean F1 per order, ``None`` as a token.

Each order scores the F1 between the predicted and the true *token sets*, where
``None`` is a token like any product id; the metric is the mean over the truth's
orders, as on Kaggle.
"""

from __future__ import annotations

import polars as pl

from basketcast.data.dataset import DataError, Problem
from basketcast.data.schema import ID
from basketcast.evaluate.reading import _N_EXAMPLES, NONE_TOKEN, _normalise, _problems

__all__ = ["mean_f1", "per_order_f1"]


def _token_sets(products: pl.Expr) -> pl.Expr:
    """Each order's set of tokens; integer tokens canonical (``007`` is ``7``)."""
    el = pl.element()
    canonical = (
        pl.when(el == NONE_TOKEN).then(el).otherwise(el.cast(ID, strict=False).cast(pl.String))
    )
    return products.str.extract_all(r"\S+").list.eval(canonical).list.unique()


def per_order_f1(
    submission: pl.DataFrame,
    truth: pl.DataFrame,
    *,
    strict: bool = False,
    sources: tuple[str, str] = ("submission", "truth"),
) -> pl.DataFrame:
    """F1 of every truth order between the predicted and the true token sets.

    Parameters
    ----------
    submission, truth
        Frames ``order_id``, ``products``.
    strict
        Also reject submission orders that are not in the truth (as Kaggle
        does); otherwise they are simply not scored.
    sources
        Names of the two inputs used in error messages (e.g. file paths).

    Returns
    -------
    polars.DataFrame
        ``order_id``, ``f1``, one row per truth order, sorted by ``order_id``.

    Raises
    ------
    DataError
        Either frame is malformed, or a truth order has no prediction.
    """
    sub_name, truth_name = sources
    problems = _problems(submission, source=sub_name, truth=False)
    problems += _problems(truth, source=truth_name, truth=True)
    if problems:
        raise DataError(problems, source=f"{sub_name} / {truth_name}")
    return _per_order_f1(_normalise(submission), _normalise(truth), strict=strict, sources=sources)


def _order_problems(
    submission: pl.DataFrame, truth: pl.DataFrame, *, strict: bool, sources: tuple[str, str]
) -> list[Problem]:
    """Truth orders without a prediction and, if strict, predicted orders not in the truth."""
    sub_name, truth_name = sources
    sub_ids, truth_ids = submission.select("order_id"), truth.select("order_id")
    problems: list[Problem] = []
    missing = truth_ids.join(sub_ids, on="order_id", how="anti").sort("order_id")
    if missing.height:
        problems.append(
            Problem(
                sub_name,
                "order_id",
                f"orders of {truth_name} without a prediction",
                missing.height,
                tuple(str(i) for i in missing.head(_N_EXAMPLES)["order_id"]),
            )
        )
    extra = sub_ids.join(truth_ids, on="order_id", how="anti").sort("order_id")
    if strict and extra.height:
        problems.append(
            Problem(
                sub_name,
                "order_id",
                f"orders not in {truth_name}",
                extra.height,
                tuple(str(i) for i in extra.head(_N_EXAMPLES)["order_id"]),
            )
        )
    return problems


def _per_order_f1(
    submission: pl.DataFrame,
    truth: pl.DataFrame,
    *,
    strict: bool = False,
    sources: tuple[str, str] = ("submission", "truth"),
) -> pl.DataFrame:
    """`per_order_f1` of frames already valid and normalised (typed ``order_id``, token strings).

    For baskets and truths that basketcast made itself: skips the token checks,
    which cost more than the scoring, but still checks that the orders match.
    """
    sub_name, truth_name = sources
    problems = _order_problems(submission, truth, strict=strict, sources=sources)
    if problems:
        raise DataError(problems, source=f"{sub_name} / {truth_name}")

    pred, true = pl.col("predicted"), pl.col("true")
    return (
        truth.select("order_id", _token_sets(pl.col("products")).alias("true"))
        .join(
            submission.select("order_id", _token_sets(pl.col("products")).alias("predicted")),
            on="order_id",
            how="left",
        )
        .select(
            "order_id",
            # precision = tp / |predicted|, recall = tp / |true|; F1 is their harmonic mean.
            (
                2.0
                * pred.list.set_intersection(true).list.len()
                / (pred.list.len() + true.list.len())
            )
            .cast(pl.Float64)
            .alias("f1"),
        )
        .sort("order_id")
    )


def mean_f1(
    submission: pl.DataFrame,
    truth: pl.DataFrame,
    *,
    strict: bool = True,
    sources: tuple[str, str] = ("submission", "truth"),
) -> float:
    """The Kaggle score: mean over the truth's orders of `per_order_f1`.

    By default (``strict=True``) the submission must hold exactly the truth's
    orders, as on Kaggle.
    """
    scores = per_order_f1(submission, truth, strict=strict, sources=sources)
    return float(scores.get_column("f1").mean())  # type: ignore[arg-type]
