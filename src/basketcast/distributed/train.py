"""User-grouped K-fold training with `xgboost.dask`, on the feature partitions the workers wrote.

The same folds as the single machine (`model.folds.assign_folds` of user_id),
the same rows: fold ``f`` trains on the labelled rows (every depth) of users
outside fold ``f`` and early-stops on fold ``f``'s labelled depth-0 rows. The
rows stay on the workers: a `DaskQuantileDMatrix` per fold, `dxgb.train`
across the workers (XGBoost's collective all-reduces the histograms).
Distributed quantile sketches and row subsampling draw differently from one
process, so the models are close, not identical (the parity tests bound the
difference in AUC and F1).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import polars as pl

from basketcast.config import ModelConfig
from basketcast.model.folds import assign_folds
from basketcast.model.train import xgb_params

__all__ = ["DaskTraining", "train_dask"]

_ID = ("order_id", "user_id", "product_id", "depth", "label")


@dataclass(frozen=True)
class DaskTraining:
    """Fold models and what training alone knows (held-out metrics come from scoring)."""

    boosters: dict[int, Any]
    feature_names: list[str]
    params: dict[str, Any]
    fold_rows: list[dict[str, Any]]
    importance: pl.DataFrame


def _read_part(path: str, folds: int, seed: int) -> Any:
    """One feature partition as pandas, labels as float (NaN = test row), with the user's fold."""
    frame = pl.read_parquet(path).with_columns(
        pl.col("label").cast(pl.Float32),
        fold=assign_folds(pl.col("user_id"), folds=folds, seed=seed),
    )
    return frame.to_pandas()


def _placed(client: Any, parts: Sequence[Path], *, folds: int, seed: int) -> Any:
    """The partitions as a Dask DataFrame, partition k on worker k mod n (workers sorted by name).

    A fixed placement makes training repeatable: each worker's rows, their order
    and its rank are the same from run to run, also when a worker was restarted
    (a nanny restarts it under the same name).
    """
    import dask.dataframe as dd

    info = client.scheduler_info(n_workers=-1)["workers"]
    workers = [a for a, _ in sorted(info.items(), key=lambda kv: str(kv[1].get("name")))]
    futures = [
        client.submit(
            _read_part,
            str(path),
            folds,
            seed,
            workers=[workers[k % len(workers)]],
            key=f"train-read-{path.parent.name}-{k}-{folds}-{seed}",
            pure=False,
        )
        for k, path in enumerate(parts)
    ]
    head = pl.read_parquet(parts[0], n_rows=0).with_columns(
        pl.col("label").cast(pl.Float32), fold=pl.lit(0, pl.Int32)
    )
    return dd.from_delayed(futures, meta=head.to_pandas(), verify_meta=False)


@contextlib.contextmanager
def _ranks_by_worker_name(client: Any) -> Iterator[None]:
    """XGBoost ranks in worker-name order for the duration of a `dxgb.train` call.

    `xgboost.dask` orders the workers by iterating a *set* of addresses, so the
    rank order follows Python's salted string hash and the ports: it changes
    from one client process to the next and when a worker restarts. The quantile
    sketches are merged in rank order, so the models changed with it. Ordering
    by worker name (stable across nanny restarts) makes training repeatable.
    """
    from xgboost import dask as dxgb

    original = getattr(dxgb, "_get_workers_from_data", None)
    if original is None:  # a future XGBoost without this seam: its own order
        yield
        return
    info = client.scheduler_info(n_workers=-1)["workers"]
    names = {address: str(worker.get("name")) for address, worker in info.items()}

    def ordered(dtrain: Any, evals: Any) -> list[str]:
        return sorted(original(dtrain, evals), key=lambda a: (names.get(a, a), a))

    dxgb._get_workers_from_data = ordered
    try:
        yield
    finally:
        dxgb._get_workers_from_data = original


def train_dask(
    client: Any,
    parts: Sequence[Path],
    *,
    config: ModelConfig,
    device: str = "cpu",
    progress: Callable[[str], None] | None = None,
) -> DaskTraining:
    """Train one model per fold of ``config`` on the feature partitions ``parts`` (Parquet files)."""
    import xgboost as xgb
    from xgboost import dask as dxgb

    report = progress or (lambda message: None)
    schema = pl.read_parquet_schema(parts[0])
    names = [c for c in schema if c not in _ID]
    # The rows live on the workers for every fold: read and hashed once, placed by shard.
    frame = _placed(client, parts, folds=config.folds, seed=config.seed)
    labelled = frame["label"].notnull()
    params = xgb_params(config, device=device)

    boosters: dict[int, Any] = {}
    fold_rows: list[dict[str, Any]] = []
    importance: list[dict[str, Any]] = []
    for f in sorted(set(config.folds_to_train)):
        start = time.perf_counter()
        train = frame[labelled & (frame["fold"] != f)]
        valid = frame[labelled & (frame["fold"] == f) & (frame["depth"] == 0)]
        n_train, n_valid = (
            int(n) for n in client.compute([train.shape[0], valid.shape[0]], sync=True)
        )
        if n_train == 0 or n_valid == 0:
            raise ValueError(
                f"fold {f} has {n_train} training rows and {n_valid} labelled depth-0 rows to "
                f"validate on; both must be positive (too few users for {config.folds} folds?)"
            )
        report(
            f"fold {f}: training on {n_train:,} rows across the workers, early stopping on {n_valid:,}"
        )
        dtrain = dxgb.DaskQuantileDMatrix(
            client,
            train[names],
            train["label"].astype("float32"),
            max_bin=config.max_bin,
            feature_names=names,
        )
        dvalid = dxgb.DaskQuantileDMatrix(
            client,
            valid[names],
            valid["label"].astype("float32"),
            max_bin=config.max_bin,
            ref=dtrain,
            feature_names=names,
        )
        # verbosity 0 travels to the workers with XGBoost's global configuration: no rank chatter.
        with xgb.config_context(verbosity=0), _ranks_by_worker_name(client):
            output = dxgb.train(
                client,
                params,
                dtrain,
                num_boost_round=config.num_boost_round,
                evals=[(dvalid, "valid")],
                callbacks=[
                    xgb.callback.EarlyStopping(rounds=config.early_stopping_rounds, save_best=True)
                ],
                verbose_eval=False,
            )
        booster = output["booster"]
        del dtrain, dvalid
        seconds = time.perf_counter() - start
        boosters[f] = booster
        fold_rows.append(
            {
                "fold": f,
                "n_train": n_train,
                "n_valid": n_valid,
                "best_iteration": booster.num_boosted_rounds() - 1,
                "seconds": seconds,
            }
        )
        gain = booster.get_score(importance_type="total_gain")
        importance += [
            {"feature": n, "fold": f, "gain": float(cast(float, gain.get(n, 0.0)))} for n in names
        ]
        report(
            f"fold {f}: done in {seconds:.1f}s, best iteration {booster.num_boosted_rounds() - 1}"
        )
    del frame
    return DaskTraining(
        boosters=boosters,
        feature_names=names,
        params=params,
        fold_rows=fold_rows,
        importance=pl.DataFrame(
            importance, schema={"feature": pl.String, "fold": pl.Int32, "gain": pl.Float64}
        ),
    )
