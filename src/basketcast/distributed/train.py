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


def _rows(part: Any, fold: int, rows: str, names: list[str]) -> Any:
    """One partition's training or validation rows of `fold`: features (rows+"x") or labels."""
    labelled = part["label"].notna()
    if rows.startswith("train"):
        mask = labelled & (part["fold"] != fold)
    else:
        mask = labelled & (part["fold"] == fold) & (part["depth"] == 0)
    chosen = part[mask]
    return chosen[names] if rows.endswith("x") else chosen["label"].astype("float32")


class _Placed:
    """The partitions on the workers, partition k on worker k mod n (workers sorted by name).

    Every task on them is pinned to that worker too (restricted tasks are never
    stolen), so each worker holds the same rows in the same order from run to
    run, also after a nanny restarted a worker under its name: the models repeat.
    """

    def __init__(self, client: Any, parts: Sequence[Path], *, folds: int, seed: int) -> None:
        info = client.scheduler_info(n_workers=-1)["workers"]
        workers = [a for a, _ in sorted(info.items(), key=lambda kv: str(kv[1].get("name")))]
        self._client = client
        self._where = [[workers[k % len(workers)]] for k in range(len(parts))]
        self._parts = [
            client.submit(
                _read_part,
                str(path),
                folds,
                seed,
                workers=self._where[k],
                allow_other_workers=False,
                pure=False,
            )
            for k, path in enumerate(parts)
        ]
        self._head = (
            pl.read_parquet(parts[0], n_rows=0)
            .with_columns(pl.col("label").cast(pl.Float32), fold=pl.lit(0, pl.Int32))
            .to_pandas()
        )

    def rows(self, fold: int, rows: str, names: list[str]) -> tuple[Any, Any, int]:
        """(features, labels, row count) of `rows` ("train" or "valid") of `fold`, as Dask collections."""
        import dask.dataframe as dd

        def pinned(what: str) -> list[Any]:
            return [
                self._client.submit(
                    _rows,
                    part,
                    fold,
                    rows + what,
                    names,
                    workers=self._where[k],
                    allow_other_workers=False,
                    pure=False,
                )
                for k, part in enumerate(self._parts)
            ]

        x, y = pinned("x"), pinned("y")
        n = sum(
            self._client.gather(
                [self._client.submit(len, f, workers=self._where[k]) for k, f in enumerate(y)]
            )
        )
        meta_x = self._head[names]
        meta_y = self._head["label"].astype("float32")
        return (
            dd.from_delayed(x, meta=meta_x, verify_meta=False),
            dd.from_delayed(y, meta=meta_y, verify_meta=False),
            int(n),
        )

    def release(self) -> None:
        self._parts = []


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
    placed = _Placed(client, parts, folds=config.folds, seed=config.seed)
    params = xgb_params(config, device=device)

    boosters: dict[int, Any] = {}
    fold_rows: list[dict[str, Any]] = []
    importance: list[dict[str, Any]] = []
    for f in sorted(set(config.folds_to_train)):
        start = time.perf_counter()
        x_train, y_train, n_train = placed.rows(f, "train", names)
        x_valid, y_valid, n_valid = placed.rows(f, "valid", names)
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
            x_train,
            y_train,
            max_bin=config.max_bin,
            feature_names=names,
        )
        dvalid = dxgb.DaskQuantileDMatrix(
            client,
            x_valid,
            y_valid,
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
        # Release this fold's row copies on the workers now: otherwise they live on while the
        # next fold's are made, and a worker holds two folds' training rows at once.
        del dtrain, dvalid, x_train, y_train, x_valid, y_valid
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
    placed.release()
    return DaskTraining(
        boosters=boosters,
        feature_names=names,
        params=params,
        fold_rows=fold_rows,
        importance=pl.DataFrame(
            importance, schema={"feature": pl.String, "fold": pl.Int32, "gain": pl.Float64}
        ),
    )
