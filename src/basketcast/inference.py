"""Predictions from a finished run: the saved models and fitted statistics, no retraining, no refit.

`predict` writes baskets; `predict_probabilities` gives the probabilities
behind them. Both read one published invocation of the run folder (see
`basketcast.runfolder`), checked against its manifest, and compute features
with the statistics the run fitted, so a user's probabilities do not depend
on which other users the new data holds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl

from basketcast.basket import select_baskets
from basketcast.basket.p_none import p_none_values
from basketcast.config import PNone, RunConfig
from basketcast.data.dataset import DataError, Dataset, Problem
from basketcast.data.load import load_dataset
from basketcast.errors import UsageError
from basketcast.io import write_frame
from basketcast.next_orders import NEXT_CONTEXT, with_next_orders
from basketcast.run_checks import OrderSet, complete_orders, target_orders
from basketcast.runfolder import MANIFEST, published_folder, verify_outputs

__all__ = [
    "P_NONE_FILE",
    "STATS_DIR",
    "predict",
    "predict_probabilities",
    "published_run",
    "saved_p_none",
]

STATS_DIR = "stats"
"""Where a run keeps its depth-0 fitted feature statistics (`FittedStats.save`)."""
P_NONE_FILE = "p_none.json"
"""The run's p(None) source (`basket.p_none`, ``auto`` resolved), beside its models."""


def predict(
    run_dir: str | Path, data: str | Path, out: str | Path, *, orders: OrderSet = "test"
) -> pl.DataFrame:
    """Baskets for the target orders in `data` from the models a run saved; no retraining.

    `orders` chooses which target orders: ``"test"`` (the default, as `run`'s
    submission and `truth.csv`), ``"train"``, ``"all"``, or ``"next"``: every
    user's next order (`basketcast.next_orders`), for a live history with no
    target orders; its CSV adds ``user_id`` and the context assumed. A target order
    whose user has no earlier order gets ``None`` (nothing can be a
    reorder). Writes the submission CSV `out` and returns it.

    Raises
    ------
    FileNotFoundError
        `run_dir` is not a finished run.
    basketcast.errors.UsageError
        A model file or the run's manifest is corrupt ("... is corrupt; re-run").
    DataError
        `data` does not validate, holds no target orders of the chosen set, or
        cannot give the features the models need; `StatsError` (a DataError)
        when the run has no saved statistics.
    """
    dataset = load_dataset(data)
    wanted = orders
    if orders == "next":  # every user's next order, with its typical context
        dataset, orders = with_next_orders(dataset), "test"
    probs, p_none = _probabilities(run_dir, dataset, data, orders)
    baskets = select_baskets(probs.select("order_id", "product_id", "p"), p_none)
    submission = complete_orders(baskets.select("order_id", "products"), dataset, orders=orders)
    if wanted == "next":  # the orders are new: say whose they are and what context they assume
        context = dataset.orders.select("order_id", "user_id", *NEXT_CONTEXT)
        submission = submission.join(context, on="order_id", how="left").select(
            "user_id", "order_id", *NEXT_CONTEXT, "products"
        )
    write_frame(submission, out)
    return submission


def predict_probabilities(
    run_dir: str | Path,
    data: str | Path,
    *,
    orders: OrderSet = "test",
    p_none: PNone | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Probabilities for every candidate of the chosen target orders in `data`, from a saved run.

    Features are computed with the statistics the run fitted (``run_dir/stats``),
    never refitted on `data`.

    Returns
    -------
    (pl.DataFrame, pl.DataFrame or None)
        ``order_id, user_id, product_id, p`` (the mean over fold models), and
        ``order_id, p_none`` from the p(None) source the run chose
        (``models/p_none.json``; `p_none` overrides it), or None for prod(1 - p). A stacked None model
        (``model.stack_none``) reads the fold-averaged item probabilities above,
        as it did for the run's test orders.

    Raises
    ------
    As `predict`.
    """
    return _probabilities(run_dir, load_dataset(data), data, orders, p_none=p_none)


def _probabilities(
    run_dir: str | Path,
    dataset: Dataset,
    data: str | Path,
    orders: OrderSet,
    *,
    p_none: PNone | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    from basketcast.config import load_config
    from basketcast.features.build import transform_users
    from basketcast.features.stats import FittedStats
    from basketcast.model.stacking import stack_orders

    if orders not in ("test", "train", "all"):
        raise UsageError(f"orders must be 'test', 'train' or 'all', not {orders!r}")
    run_dir = published_run(Path(run_dir))
    models = run_dir / "models"
    config = load_config(run_dir / "config.toml")
    stats = FittedStats.load(run_dir / STATS_DIR)
    chosen = target_orders(dataset, orders)
    if chosen.is_empty():
        message = f"no {orders} orders to predict (try --orders all)"
        raise DataError([Problem(str(data), "eval_set", message)], source=str(data))
    frames = transform_users(dataset, stats, config=config.features)
    items = frames.items.join(chosen, on="order_id", how="semi")
    order_rows = frames.orders.join(chosen, on="order_id", how="semi")
    probs = items.select(
        "order_id", "user_id", "product_id", p=_saved_model_p(models, items, "item", config, data)
    )
    choice = p_none or saved_p_none(models)
    if choice is PNone.AUTO:
        raise UsageError("p_none must be a resolved choice (model, independent or blend), not auto")
    none = None
    if choice in (PNone.MODEL, PNone.BLEND) and (models / "none_models.json").exists():
        if config.model.stack_none:
            order_rows = stack_orders(order_rows, probs)
        none = order_rows.select(
            "order_id", p_none=_saved_model_p(models, order_rows, "none", config, data)
        )
    return probs, p_none_values(probs, none, choice)


def saved_p_none(models: Path) -> PNone:
    """The p(None) source the run chose.

    A run without a recorded choice (a `--cluster` run, which has no `auto`) used its None
    model when it trained one, and independence otherwise.
    """
    path = models / P_NONE_FILE
    if not path.exists():
        return PNone.MODEL if (models / "none_models.json").exists() else PNone.INDEPENDENT
    try:
        choice = PNone(json.loads(path.read_text())["chosen"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} is corrupt ({type(exc).__name__}); re-run") from None
    if choice is PNone.AUTO:
        raise UsageError(f"{path} is corrupt (no resolved choice); re-run")
    return choice


def published_run(run_dir: Path) -> Path:
    """The folder of the run's published invocation, its models and configuration checked."""
    if not run_dir.is_dir():
        raise FileNotFoundError(f"no such run folder: {run_dir}")
    if not (run_dir / MANIFEST).exists():
        if _is_cluster_run(run_dir):
            # A `--cluster` run writes its outputs in place, each atomically, without the
            # single-process life cycle's manifest (not yet): read them as they are.
            return run_dir
        raise FileNotFoundError(
            f"{run_dir}: no item models saved and no {MANIFEST}; is it a finished `basketcast run` "
            "folder? (A run folder from before run manifests needs a re-run.)"
        )
    # Read one published invocation's folder throughout, even if a run publishes meanwhile.
    folder = published_folder(run_dir)
    checked = ["config.toml", "models"]
    if (folder / STATS_DIR).exists():  # missing statistics are StatsError's to explain
        checked.append(STATS_DIR)
    verify_outputs(folder, checked)
    return folder


def _is_cluster_run(run_dir: Path) -> bool:
    metrics = run_dir / "metrics.json"
    if not (metrics.is_file() and (run_dir / "models").is_dir()):
        return False
    try:
        return bool(json.loads(metrics.read_text()).get("cluster"))
    except ValueError:
        return False


def _saved_model_p(
    models: Path, frame: pl.DataFrame, prefix: str, config: RunConfig, data: str | Path
) -> np.ndarray:
    """Mean probability of a saved model set; a model file that will not load is named."""
    import xgboost as xgb

    from basketcast.model.predict import load_manifest, load_models, predict_frame

    try:
        names = load_manifest(models, prefix=prefix)["feature_names"]
        boosters = load_models(models, prefix=prefix)
    except (ValueError, KeyError, xgb.core.XGBoostError) as exc:
        raise UsageError(
            f"{models}: the '{prefix}' models are corrupt ({type(exc).__name__}); re-run"
        ) from None
    lacking = [name for name in names if name not in frame.columns]
    if lacking:
        hint = " (products.csv is missing?)" if {"aisle_id", "department_id"} & set(lacking) else ""
        message = (
            f"the run's '{prefix}' models need {len(lacking)} feature(s) these tables cannot "
            f"give{hint}, e.g. {lacking[:5]}"
        )
        raise DataError([Problem(str(data), "", message)], source=str(data))
    return predict_frame(boosters, frame, names, threads=config.threads)
