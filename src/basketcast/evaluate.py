"""The Kaggle metric (mean F1 per order, ``None`` as a token), submission files, and baselines.

A submission and a truth are both frames ``order_id`` (Int64), ``products``
(String: space-separated product ids, or ``None``). Each order scores the F1
between the predicted and the true *token sets*, where ``None`` is a token like
any product id; the metric is the mean over the truth's orders, as on Kaggle.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.compute as pc

from basketcast.basket import select_baskets
from basketcast.data.dataset import DataError, Dataset, Problem
from basketcast.data.schema import ID

__all__ = [
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

NONE_TOKEN = "None"
_COLUMNS = ("order_id", "products")
_TOKEN = r"^(?:-?\d+|None)$"
_N_EXAMPLES = 3
DEFAULT_THRESHOLDS: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(1, 21))


# --- validation -------------------------------------------------------------------------


def _problems(frame: pl.DataFrame, *, source: str, truth: bool) -> list[Problem]:
    """Every problem of one submission-like frame (all columns as read, any dtype)."""
    missing = [c for c in _COLUMNS if c not in frame.columns]
    if missing:
        return [
            Problem(source, c, f"missing column (found: {', '.join(frame.columns)})")
            for c in missing
        ]
    rows = frame.select(
        pl.int_range(pl.len()).alias("row"),
        pl.col("order_id").cast(pl.String).alias("raw_id"),
        pl.col("order_id")
        .cast(pl.String)
        .str.strip_chars()
        .cast(ID, strict=False)
        .alias("order_id"),
        pl.col("products").cast(pl.String).str.extract_all(r"\S+").alias("tokens"),
    )
    problems: list[Problem] = []

    def add(column: str, message: str, bad: pl.DataFrame, show: pl.Expr) -> None:
        if bad.height:
            examples = tuple(bad.head(_N_EXAMPLES).select(show).to_series().to_list())
            problems.append(Problem(source, column, message, bad.height, examples))

    # A data row's line in a CSV file is its index + 2 (the header is line 1).
    where = pl.format(
        "line {} (order {})", pl.col("row") + 2, pl.col("raw_id").fill_null("<empty>")
    )
    if truth and rows.height == 0:
        problems.append(Problem(source, "order_id", "no orders"))
    add("order_id", "not an integer order id", rows.filter(pl.col("order_id").is_null()), where)
    dup = rows.filter(pl.col("order_id").is_not_null() & pl.col("order_id").is_duplicated())
    add("order_id", "duplicate order id", dup, where)
    add(
        "products",
        f"empty (write {NONE_TOKEN} for an order without reorders)",
        rows.filter(pl.col("tokens").list.len().fill_null(0) == 0),
        where,
    )
    el = pl.element()
    bad_token = ~el.str.contains(_TOKEN) | (
        (el != NONE_TOKEN) & el.cast(ID, strict=False).is_null()
    )
    unknown = rows.with_columns(
        pl.col("tokens").list.eval(el.filter(bad_token)).alias("bad")
    ).filter(pl.col("bad").list.len().fill_null(0) > 0)
    add(
        "products",
        f"unknown token (neither an integer product id nor {NONE_TOKEN})",
        unknown,
        pl.format("{}: '{}'", where, pl.col("bad").list.first()),
    )
    if truth:
        mixed = rows.filter(
            pl.col("tokens").list.contains(NONE_TOKEN) & (pl.col("tokens").list.len() > 1)
        )
        add("products", f"{NONE_TOKEN} mixed with products in the truth", mixed, where)
    return problems


def _normalise(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(
        pl.col("order_id").cast(pl.String).str.strip_chars().cast(ID),
        pl.col("products").cast(pl.String).str.strip_chars(),
    )


def _read(path: str | Path, *, truth: bool) -> pl.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        # Everything as text: the checks below report bad ids instead of a parser error.
        frame = pl.read_csv(path, infer_schema=False)
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as exc:
        raise DataError(
            [Problem(str(path), "", f"not a readable CSV: {exc}")], source=str(path)
        ) from None
    problems = _problems(frame, source=str(path), truth=truth)
    if problems:
        raise DataError(problems, source=str(path))
    return _normalise(frame)


def read_submission(path: str | Path) -> pl.DataFrame:
    """Read and check an ``order_id,products`` submission CSV.

    Raises
    ------
    DataError
        Missing columns, non-integer or duplicate order ids, empty products,
        or tokens that are neither an integer nor ``None`` (all at once).
    """
    return _read(path, truth=False)


def read_truth(path: str | Path) -> pl.DataFrame:
    """Read and check an ``order_id,products`` truth CSV (as written by ``synth``).

    Raises
    ------
    DataError
        As `read_submission`, plus ``None`` mixed with products in one order.
    """
    return _read(path, truth=True)


# --- the metric ---------------------------------------------------------------------------


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


# --- truth and baselines from a Dataset ----------------------------------------------------


def _targets(dataset: Dataset, eval_set: str | None) -> pl.DataFrame:
    if eval_set not in (None, "train", "test"):
        raise ValueError(f"eval_set must be 'train', 'test' or None (both), got {eval_set!r}")
    targets = dataset.orders.filter(
        pl.col("eval_set") != "prior" if eval_set is None else pl.col("eval_set") == eval_set
    )
    return targets.select("order_id", "user_id", pl.col("order_number").alias("target_number"))


def _history(dataset: Dataset, targets: pl.DataFrame) -> pl.DataFrame:
    """Prior lines of each target's user from orders before the target (order_id = the target)."""
    prior_orders = dataset.orders.filter(pl.col("eval_set") == "prior").select(
        pl.col("order_id").alias("prior_id"), "user_id", "order_number"
    )
    lines = dataset.prior.select(
        pl.col("order_id").alias("prior_id"), "product_id", "add_to_cart_order"
    )
    return (
        targets.join(prior_orders, on="user_id")
        .filter(pl.col("order_number") < pl.col("target_number"))
        .join(lines, on="prior_id")
    )


def _to_submission(
    targets: pl.DataFrame,
    chosen: pl.DataFrame,
    *,
    sort_by: Sequence[str],
    descending: Sequence[bool],
) -> pl.DataFrame:
    """``chosen`` (order_id, product_id, sort keys) → one row per target, ``None`` when empty."""
    joined = (
        chosen.sort(["order_id", *sort_by], descending=[False, *descending])
        .group_by("order_id", maintain_order=True)
        .agg(pl.col("product_id").cast(pl.String).str.join(" ").alias("products"))
    )
    return (
        targets.select("order_id")
        .join(joined, on="order_id", how="left")
        .with_columns(pl.col("products").fill_null(NONE_TOKEN))
        .sort("order_id")
    )


def truth_from_dataset(dataset: Dataset) -> pl.DataFrame:
    """The truth of the train orders, derived from the history.

    Products of each train order that its user bought in an earlier order
    (the ``reordered`` column is not used), in cart order; ``None`` if there
    are none.
    """
    targets = _targets(dataset, "train")
    bought = _history(dataset, targets).select("order_id", "product_id").unique()
    lines = dataset.train.join(targets.select("order_id"), on="order_id").join(
        bought, on=["order_id", "product_id"], how="semi"
    )
    return _to_submission(
        targets, lines, sort_by=["add_to_cart_order", "product_id"], descending=[False, False]
    )


def baseline_none(dataset: Dataset, *, eval_set: str | None = None) -> pl.DataFrame:
    """``None`` for every target order (``eval_set`` ``train``, ``test`` or both)."""
    return (
        _targets(dataset, eval_set)
        .select("order_id", pl.lit(NONE_TOKEN, dtype=pl.String).alias("products"))
        .sort("order_id")
    )


def baseline_last_basket(dataset: Dataset, *, eval_set: str | None = None) -> pl.DataFrame:
    """Repeat the products of each user's last prior order."""
    targets = _targets(dataset, eval_set)
    history = _history(dataset, targets)
    last = history.filter(pl.col("order_number") == pl.col("order_number").max().over("order_id"))
    return _to_submission(
        targets, last, sort_by=["add_to_cart_order", "product_id"], descending=[False, False]
    )


def _shares(dataset: Dataset, targets: pl.DataFrame) -> pl.DataFrame:
    """Per target and product: the share of the user's earlier orders that contained it."""
    n_orders = (
        targets.join(
            dataset.orders.filter(pl.col("eval_set") == "prior").select("user_id", "order_number"),
            on="user_id",
        )
        .filter(pl.col("order_number") < pl.col("target_number"))
        .group_by("order_id")
        .agg(pl.len().alias("n_orders"))
    )
    return (
        _history(dataset, targets)
        .group_by("order_id", "product_id")
        .agg(pl.col("prior_id").n_unique().alias("n_bought"))
        .join(n_orders, on="order_id")
        .select("order_id", "product_id", (pl.col("n_bought") / pl.col("n_orders")).alias("share"))
    )


def purchase_shares(dataset: Dataset) -> pl.DataFrame:
    """Per target order (train and test) and product bought before it: its purchase share.

    ``order_id``, ``product_id``, ``share`` (the share of the user's earlier
    orders that contained the product). The frequency baselines take it as
    ``shares=`` so that several of them compute it once.
    """
    return _shares(dataset, _targets(dataset, None))


def _shares_of(
    dataset: Dataset, targets: pl.DataFrame, shares: pl.DataFrame | None
) -> pl.DataFrame:
    """The shares of `targets`: taken from `purchase_shares` when given (a target's row only
    depends on that target), computed otherwise."""
    if shares is None:
        return _shares(dataset, targets)
    return shares.join(targets.select("order_id"), on="order_id", how="semi")


def _frequency(targets: pl.DataFrame, shares: pl.DataFrame, threshold: float) -> pl.DataFrame:
    chosen = shares.filter(pl.col("share") >= threshold)
    return _to_submission(
        targets, chosen, sort_by=["share", "product_id"], descending=[True, False]
    )


def baseline_frequency(
    dataset: Dataset,
    threshold: float,
    *,
    eval_set: str | None = None,
    shares: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Products the user bought in at least ``threshold`` of their prior orders; ``None`` if empty.

    ``shares``: `purchase_shares` of the dataset, if already computed.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must lie in [0, 1], got {threshold}")
    targets = _targets(dataset, eval_set)
    return _frequency(targets, _shares_of(dataset, targets, shares), threshold)


def tune_frequency_threshold(
    dataset: Dataset,
    truth: pl.DataFrame,
    *,
    grid: Sequence[float] = DEFAULT_THRESHOLDS,
    shares: pl.DataFrame | None = None,
) -> float:
    """The threshold of `baseline_frequency` with the best mean F1 on the truth's (train) orders.

    Ties go to the first threshold of the grid (the smallest of the default grid).
    ``shares``: `purchase_shares` of the dataset, if already computed.
    """
    if not grid:
        raise ValueError("the threshold grid is empty")
    scores = _frequency_scores(dataset, truth, grid, shares)
    return float(grid[int(np.argmax(scores))])


def _frequency_scores(
    dataset: Dataset,
    truth: pl.DataFrame,
    grid: Sequence[float],
    shares: pl.DataFrame | None = None,
) -> np.ndarray:
    """Mean F1 of `baseline_frequency` at every threshold of `grid`, in one pass.

    The same numbers as ``mean_f1(baseline_frequency(dataset, t, eval_set="train"),
    truth, strict=False)`` for each ``t`` (and the same errors), without building
    and parsing one submission per threshold.
    """
    problems = _problems(truth, source="truth", truth=True)
    if problems:
        raise DataError(problems, source="submission / truth")
    truth = _normalise(truth)
    targets = _targets(dataset, "train").join(truth.select("order_id"), on="order_id", how="semi")
    problems = _order_problems(targets, truth, strict=False, sources=("submission", "truth"))
    if problems:
        raise DataError(problems, source="submission / truth")

    # Truth orders in the order mean_f1 averages them (by order_id), with their token sets.
    true = truth.select("order_id", _token_sets(pl.col("products")).alias("true")).sort("order_id")
    n_true = true.get_column("true").list.len().to_numpy().astype(np.int64)
    true_none = true.get_column("true").list.contains(NONE_TOKEN).to_numpy()
    true_products = (
        _flatten(true.get_column("true"))
        .filter(pl.col("token") != NONE_TOKEN)
        .select("row", pl.col("token").cast(ID).alias("product_id"), hit=pl.lit(True))
    )
    # Each candidate product's order (its row in `true`) and whether it is in the truth.
    rows = (
        _shares_of(dataset, targets, shares)
        .join(true.select("order_id", row=pl.int_range(pl.len(), dtype=pl.Int64)), on="order_id")
        .join(true_products, on=["row", "product_id"], how="left")
    )
    thresholds = np.unique(np.asarray(grid, dtype=np.float64))
    predicted, hits = _counts_by_threshold(
        rows.get_column("row").to_numpy(),
        rows.get_column("share").to_numpy(),
        rows.get_column("hit").fill_null(False).to_numpy(),
        thresholds,
        n_orders=true.height,
    )
    # An empty basket is submitted as None: it scores 1 exactly when the truth is None.
    n_true, true_none = n_true[:, None], true_none[:, None]
    f1 = np.where(predicted > 0, 2.0 * hits / (predicted + n_true), true_none.astype(np.float64))
    # Polars' mean, as mean_f1 takes it, so that the numbers are identical to the last bit.
    means = np.array([pl.Series(column).mean() for column in f1.T], dtype=np.float64)
    return means[np.searchsorted(thresholds, np.asarray(grid, dtype=np.float64))]


def _flatten(lists: pl.Series) -> pl.DataFrame:
    """One row per list element: ``row`` (the index of its list) and ``token``."""
    # Through Arrow, not Polars' explode: its empty-list default is deprecated, and the
    # flag that pins it needs Polars 1.36 (we support 1.30).
    arrow = lists.to_arrow(compat_level=pl.CompatLevel.oldest())
    return pl.DataFrame({"row": pc.list_parent_indices(arrow), "token": pc.list_flatten(arrow)})


def _counts_by_threshold(
    row: np.ndarray, share: np.ndarray, hit: np.ndarray, thresholds: np.ndarray, *, n_orders: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per order (`row`) and sorted threshold: products with ``share >= threshold``, and hits.

    Each product falls in the bucket of the thresholds it reaches; the counts at
    a threshold are then the cumulative sums over that and higher buckets.
    """
    buckets = len(thresholds) + 1
    reached = np.searchsorted(thresholds, share, side="right")  # thresholds <= share
    cell = row * buckets + reached
    size = n_orders * buckets

    def at_or_above(weights: np.ndarray | None) -> np.ndarray:
        counts = np.bincount(cell, weights=weights, minlength=size).reshape(n_orders, buckets)
        above = np.cumsum(counts[:, ::-1], axis=1)[:, ::-1]
        # Bucket b: products reaching exactly the b lowest thresholds; threshold i counts b > i.
        return above[:, 1:].astype(np.int64)

    return at_or_above(None), at_or_above(hit.astype(np.float64))


def baseline_frequency_f1(
    dataset: Dataset, *, eval_set: str | None = None, shares: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Purchase shares taken as probabilities, with ``p_none = prod(1 - p)``, fed to the F1 maximiser.

    ``shares``: `purchase_shares` of the dataset, if already computed.
    """
    targets = _targets(dataset, eval_set)
    probs = _shares_of(dataset, targets, shares).select(
        "order_id", "product_id", pl.col("share").alias("p")
    )
    baskets = select_baskets(probs).select("order_id", "products")
    return (
        targets.select("order_id")
        .join(baskets, on="order_id", how="left")
        .with_columns(pl.col("products").fill_null(NONE_TOKEN))
        .sort("order_id")
    )
