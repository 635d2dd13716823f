"""One trial: train the item model on the user-grouped folds, fold 0 first with pruning.

The features are built once, to the deepest ``history_targets`` the space
allows, and cached in the study folder: a trial with fewer history targets
takes the rows of depth <= k from the same frame, which are exactly the rows
`build_features` gives for k (each depth is built from its own history cut).
Only labelled rows are kept: the search never sees a test order.
"""

from __future__ import annotations

import fcntl
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from basketcast.config import RunConfig
from basketcast.importance._scoring import oof_scores
from basketcast.tune._space import SearchSpace, apply

__all__ = ["FeatureCache", "Objective"]


class FeatureCache:
    """The labelled item feature frame of a data folder, built once per (data, feature config)."""

    def __init__(self, data: Path, out: Path, *, fingerprint: str, config: RunConfig, depth: int):
        self.data, self.depth = data, depth
        features = replace(config.features, history_targets=depth)
        key = RunConfig(features=features).stage_hash("features")
        self.path = out / "features" / f"items-{fingerprint}-{key}.parquet"
        self._features = features
        self._frame: pl.DataFrame | None = None

    def build(self) -> Path:
        """Build and write the frame unless it is there (one process builds, the others wait)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            if not self.path.exists():
                from basketcast.data.load import load_dataset
                from basketcast.device import polars_engine
                from basketcast.features.build import build_features
                from basketcast.io import write_frame

                frames = build_features(
                    load_dataset(self.data),
                    config=self._features,
                    engine=polars_engine(gpu=self._features.gpu_engine),
                )
                labelled = frames.items.filter(pl.col("label").is_not_null())
                write_frame(labelled, self.path, compression="lz4")
        return self.path

    def frame(self, history_targets: int) -> pl.DataFrame:
        if history_targets > self.depth:
            raise ValueError(
                f"history_targets {history_targets} is beyond the cached depth {self.depth}"
            )
        if self._frame is None:
            self._frame = pl.read_parquet(self.build())
        if history_targets == self.depth:
            return self._frame
        return self._frame.filter(pl.col("depth") <= history_targets)


@dataclass
class Objective:
    """Out-of-fold log loss of one trial's configuration: the mean over the folds that ran.

    Fold 0 (the first trained fold) runs first with Optuna's XGBoost pruning
    callback on its held-out depth-0 rows; the other folds run only if the
    trial survives, both during fold 0 (checked every round once a quarter of
    ``num_boost_round`` has passed, so that a low learning rate is not pruned
    for being slow) and at its end. Recorded on every trial: the folds that ran, their log
    losses and best iterations; on complete trials also the out-of-fold AUC
    and the mean F1 of the expected-F1 baskets (p(None) = prod(1 - p)).
    """

    base: RunConfig
    space: SearchSpace
    features: FeatureCache
    device: str
    threads: int

    def __call__(self, trial: Any) -> float:
        import optuna
        from optuna_integration import XGBoostPruningCallback

        from basketcast.model import train_cv

        started = time.perf_counter()
        values = self.space.suggest(trial)
        config = apply(self.base, values)
        frame = self.features.frame(config.features.targets)
        first, *rest = config.model.folds_to_train
        trial.set_user_attr("folds_ran", [first])  # until the other folds have run too
        pruning = XGBoostPruningCallback(trial, "valid-logloss")
        results = [
            train_cv(
                frame,
                config=replace(config.model, train_folds=(first,)),
                device=self.device,
                threads=self.threads,
                callbacks=[pruning],
            )
        ]
        # Pruned on fold 0's final score too, against the other trials' fold 0 at the same
        # step: fair to a slow learner that the in-training checks let through.
        trial.report(results[0].logloss, step=config.model.num_boost_round)
        if trial.should_prune():
            raise optuna.TrialPruned()
        if rest:
            results.append(
                train_cv(
                    frame,
                    config=replace(config.model, train_folds=tuple(rest)),
                    device=self.device,
                    threads=self.threads,
                )
            )
        folds = pl.concat([r.fold_metrics for r in results])
        losses = folds.get_column("logloss").to_list()
        oof = pl.concat([r.oof for r in results]).filter(pl.col("depth") == 0)
        rows = oof.join(
            frame.select("order_id", "product_id", "label"), on=["order_id", "product_id"]
        )
        scores = oof_scores(rows, rows.get_column("p").to_numpy())
        trial.set_user_attr("folds_ran", folds.get_column("fold").to_list())
        trial.set_user_attr("fold_logloss", losses)
        trial.set_user_attr("best_iterations", folds.get_column("best_iteration").to_list())
        trial.set_user_attr("oof_auc", scores.auc)
        trial.set_user_attr("oof_f1", scores.f1)
        trial.set_user_attr("seconds", time.perf_counter() - started)
        value = float(np.mean(losses))
        if not math.isfinite(value):
            raise ValueError(f"trial {trial.number}: non-finite log loss {value}")
        return value
