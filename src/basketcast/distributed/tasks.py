"""The functions that run on the workers, one shard each: plain functions of files and small values.

They read their shard from disk, write their output atomically, and return
only small things (partial aggregates, counts), so the client never holds a
shard's rows. Input errors travel back as `ShippedDataError` (a `DataError`
does not survive pickling with its message) and become a `DataError` again
on the client.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import polars as pl

from basketcast.config import FeatureConfig
from basketcast.data.dataset import DataError, Dataset, Problem
from basketcast.data.load import load_dataset
from basketcast.distributed import stats as stats_mod
from basketcast.features.history import History, cut_history
from basketcast.features.stats import FittedStats
from basketcast.io import write_frame

__all__ = ["ShippedDataError", "shard_partials", "transform_shard", "unship"]

F = TypeVar("F", bound=Callable[..., Any])


class ShippedDataError(Exception):
    """A `DataError` in a form that pickles: args are (problems, source)."""

    def __init__(self, problems: tuple[Problem, ...], source: str) -> None:
        super().__init__(problems, source)

    def to_data_error(self) -> DataError:
        problems, source = self.args
        return DataError(problems, source=source)


def shipped(func: F) -> F:
    """Run `func` on a worker; a `DataError` comes back as `ShippedDataError`."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except DataError as exc:
            raise ShippedDataError(exc.problems, exc.source) from None

    return wrapper  # type: ignore[return-value]


def unship(exc: BaseException) -> BaseException:
    """The client-side error for an exception a worker raised."""
    return exc.to_data_error() if isinstance(exc, ShippedDataError) else exc


def _histories(dataset: Dataset, config: FeatureConfig) -> list[History]:
    return [cut_history(dataset, depth) for depth in range(config.targets + 1)]


@shipped
def shard_partials(
    folder: str, *, config: FeatureConfig
) -> list[tuple[tuple[str, ...], stats_mod.Partials]]:
    """Validate one shard; per depth, the families computed and their partial aggregates (the map)."""
    from basketcast.distributed._transform import families

    dataset = load_dataset(folder)
    out = []
    for history in _histories(dataset, config):
        names = families(config, history)
        out.append((names, stats_mod.partials(history, names)))
    return out


@shipped
def transform_shard(
    folder: str,
    items_out: str,
    orders_out: str,
    *,
    config: FeatureConfig,
    stats: list[str],
) -> dict[str, int]:
    """The item and order frames of one shard's users from the combined statistics, written as Parquet.

    `stats` are the folders of each depth's saved `FittedStats`.
    """
    from basketcast.distributed._transform import order_frame, transform_depth

    fitted = [FittedStats.load(path) for path in stats]
    dataset = load_dataset(folder)
    parts = [
        transform_depth(dataset, history, fitted[history.depth], config).collect()
        for history in _histories(dataset, config)
    ]
    items = pl.concat(parts, how="vertical", rechunk=False)
    orders = order_frame(items, config)
    write_frame(items, Path(items_out), compression="lz4")
    write_frame(orders, Path(orders_out), compression="lz4")
    return {"items": items.height, "orders": orders.height}


# --- scoring: probabilities, baskets and per-order F1 of one shard ---------------------------


def _boosters(raw: dict[int, bytes]) -> dict[int, Any]:
    import xgboost as xgb

    out = {}
    for fold, data in raw.items():
        booster = xgb.Booster()
        booster.load_model(bytearray(data))
        out[fold] = booster
    return out


def _probabilities(
    frame: pl.DataFrame,
    raw: dict[int, bytes],
    names: list[str],
    *,
    folds: int,
    seed: int,
    kind: str,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(out-of-fold rows, test rows) of one model kind, in the layout of oof.parquet."""
    import numpy as np

    from basketcast.model._matrix import feature_matrix
    from basketcast.model.folds import assign_folds

    boosters = _boosters(raw)
    fold = assign_folds(frame["user_id"], folds=folds, seed=seed).to_numpy()
    labelled = frame["label"].is_not_null().to_numpy()
    oof_p = np.full(frame.height, np.nan, dtype=np.float32)
    covered = np.zeros(frame.height, dtype=bool)
    test = np.flatnonzero(~labelled)
    test_sum = np.zeros(len(test), dtype=np.float64)
    matrix = feature_matrix(frame, names)
    for f, booster in boosters.items():
        held = np.flatnonzero(labelled & (fold == f))
        if len(held):
            oof_p[held] = booster.inplace_predict(matrix[held], validate_features=False)
        covered[held] = True
        if len(test):
            test_sum += booster.inplace_predict(matrix[test], validate_features=False)
    keys = [c for c in ("order_id", "user_id", "product_id", "depth") if c in frame.columns]
    ids = frame.select(keys)
    if "product_id" not in keys:
        ids = ids.with_columns(product_id=pl.lit(None, pl.Int64))
    layout = ("order_id", "user_id", "product_id", "depth", "fold", "p", "kind")
    oof = (
        ids.with_columns(fold=pl.Series(fold).cast(pl.Int8), p=pl.Series(oof_p), kind=pl.lit(kind))
        .filter(pl.Series(covered))
        .select(layout)
    )
    mean = (test_sum / max(len(boosters), 1)).astype(np.float32)
    tests = (
        ids.filter(pl.Series(~labelled))
        .with_columns(fold=pl.lit(-1, pl.Int8), p=pl.Series(mean), kind=pl.lit(kind))
        .select(layout)
    )
    return oof, tests


def _baskets(probabilities: pl.DataFrame, *, use_none: bool) -> pl.DataFrame:
    from basketcast.basket import select_baskets

    rows = probabilities.filter(pl.col("depth") == 0)
    items = rows.filter(pl.col("kind") == "item").select("order_id", "product_id", "p")
    p_none = None
    if use_none:
        p_none = rows.filter(pl.col("kind") == "none").select("order_id", p_none=pl.col("p"))
    return select_baskets(items, p_none).select("order_id", "products")


def _read_shard_truth(path: Path) -> pl.DataFrame | None:
    from basketcast import evaluate

    if not path.exists():
        return None
    if pl.read_csv(path, infer_schema=False).height == 0:
        return pl.DataFrame(schema={"order_id": pl.Int64, "products": pl.String})
    return evaluate.read_truth(path)


@shipped
def score_shard(
    folder: str,
    items_path: str,
    orders_path: str | None,
    oof_out: str,
    predictions_out: str,
    *,
    models: dict[str, tuple[dict[int, bytes], list[str]]],
    folds: int,
    seed: int,
    use_none_model: bool,
    thresholds: tuple[float, ...],
) -> dict[str, Any]:
    """Probabilities, baskets and per-order F1 of one shard; writes its oof and prediction rows.

    Returns only small tables: the shard's submission rows, per-order F1 of
    every method, and (fold, y, p) of the held-out labelled depth-0 rows per model.
    """
    from basketcast import evaluate
    from basketcast.basket import select_baskets
    from basketcast.evaluate.metric import _per_order_f1

    dataset = load_dataset(folder)
    frames = {"item": pl.read_parquet(items_path)}
    if orders_path is not None and "none" in models:
        frames["none"] = pl.read_parquet(orders_path)
    oof_parts, test_parts, scored = [], [], {}
    for kind, frame in frames.items():
        raw, names = models[kind]
        oof, tests = _probabilities(frame, raw, names, folds=folds, seed=seed, kind=kind)
        oof_parts.append(oof)
        test_parts.append(tests)
        keys = ["order_id", "product_id"] if kind == "item" else ["order_id"]
        depth0 = oof.filter(pl.col("depth") == 0).join(
            frame.select(*keys, "label"), on=keys, how="left"
        )
        scored[kind] = depth0.select("fold", y=pl.col("label").cast(pl.Float32), p="p")
    order = ("kind", "order_id", "product_id")
    oof = pl.concat(oof_parts).sort(order)
    predictions = pl.concat(test_parts).sort(order)
    write_frame(oof, Path(oof_out))
    write_frame(predictions, Path(predictions_out))

    has_none = "none" in frames
    use_none = use_none_model and has_none
    probabilities = pl.concat([oof, predictions])
    methods = {"basketcast (p_none = prod(1 - p))": _baskets(probabilities, use_none=False)}
    if has_none:
        methods["basketcast (None model)"] = _baskets(probabilities, use_none=True)
    true_probs = Path(folder) / "true_probs.parquet"
    if true_probs.exists():
        oracle = pl.read_parquet(true_probs).select("order_id", "product_id", p="p_true")
        methods["oracle: true probabilities + F1 maximiser"] = select_baskets(oracle).select(
            "order_id", "products"
        )
    shares = evaluate.purchase_shares(dataset)
    methods |= {
        "baseline: None for every order": evaluate.baseline_none(dataset),
        "baseline: repeat the last basket": evaluate.baseline_last_basket(dataset),
        "baseline: personal frequency + F1 maximiser": evaluate.baseline_frequency_f1(
            dataset, shares=shares
        ),
    }
    # The threshold baseline's threshold is tuned on every shard's train orders together:
    # each shard scores the whole grid, the client keeps the best threshold.
    for t in thresholds:
        methods[f"baseline: personal frequency >= {t:.2f}"] = evaluate.baseline_frequency(
            dataset, t, shares=shares
        )

    truth = evaluate.truth_from_dataset(dataset)
    scored_orders = oof.filter(pl.col("depth") == 0).select("order_id").unique()
    subsets = {"train (out of fold)": truth.join(scored_orders, on="order_id", how="semi")}
    test_truth = _read_shard_truth(Path(folder) / "truth.csv")
    if test_truth is not None:
        tests = predictions.select("order_id").unique()
        subsets["test"] = test_truth.join(tests, on="order_id", how="semi")
        subsets["all last baskets"] = pl.concat([subsets["train (out of fold)"], subsets["test"]])
    f1 = pl.concat(
        [
            _per_order_f1(baskets, subset).with_columns(method=pl.lit(method), orders=pl.lit(name))
            for method, baskets in methods.items()
            for name, subset in subsets.items()
            if subset.height
        ]
        or [
            pl.DataFrame(
                schema={
                    "order_id": pl.Int64,
                    "f1": pl.Float64,
                    "method": pl.String,
                    "orders": pl.String,
                }
            )
        ]
    )
    chosen = _baskets(probabilities, use_none=use_none)
    test_ids = predictions.filter(pl.col("depth") == 0).select("order_id").unique()
    submission = chosen.join(test_ids, on="order_id", how="semi")
    return {
        "f1": f1,
        "scored": scored,
        "submission": submission,
        "baskets": chosen,
        "rows": {"oof": oof.height, "predictions": predictions.height},
    }
