"""User-grouped K-fold XGBoost training, for the item model and the None model alike.

Training rows are all labelled rows: the real train orders (depth 0) and the
history targets (depth >= 1) of every user, test users included. Fold ``f``'s
model learns from the labelled rows of users outside fold ``f`` and early-stops
on fold ``f``'s labelled depth-0 rows only, because depth 0 is the quantity we
are scored on; history targets of the held-out users still get out-of-fold
predictions (useful downstream) but never drive early stopping or metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import polars as pl
import xgboost as xgb

from basketcast.config import ModelConfig
from basketcast.device import device_arrays, fits_on_device
from basketcast.frame import check_frame, id_columns
from basketcast.model._matrix import CHUNK_ROWS, feature_chunks, stack_features
from basketcast.model.bagging import average_boosters, member_seed
from basketcast.model.folds import FOLD_DTYPE, assign_folds
from basketcast.model.metrics import log_loss, roc_auc

__all__ = ["CVResult", "Progress", "train_cv", "xgb_params"]

Progress = Callable[[int, str], None]
"""Callback ``(fold, message)``; the CLI turns it into a progress display."""

_PROGRESS_EVERY = 50


@dataclass(frozen=True)
class CVResult:
    """Everything one cross-validated training run produces.

    Attributes
    ----------
    boosters
        Fold -> Booster, each cut to its best iteration (predict with all trees).
    oof
        Out-of-fold predictions for every labelled row of the trained folds, all
        depths: id columns (``product_id`` only for the item frame), ``fold``
        (Int32), ``p`` (Float32); rows in the input frame's order.
    test
        Unlabelled rows: id columns and ``p`` (Float32), the mean over fold models.
    fold_metrics
        One row per trained fold: ``fold, n_train, n_valid, best_iteration,
        logloss, auc, seconds``; ``n_valid`` and the metrics cover the held-out
        labelled depth-0 rows.
    importance
        ``feature, fold, gain``: total gain per feature and fold, 0 when unused.
    feature_names
        The model's features, in matrix column order.
    logloss, auc
        Out-of-fold metrics over the labelled depth-0 rows of all trained folds.
    params
        The XGBoost parameters used (for the run's metrics and the model manifest).
    n_folds, seed
        The fold scheme: users were split by ``assign_folds(folds=n_folds, seed=seed)``.
    """

    boosters: dict[int, xgb.Booster]
    oof: pl.DataFrame
    test: pl.DataFrame
    fold_metrics: pl.DataFrame
    importance: pl.DataFrame
    feature_names: list[str]
    logloss: float
    auc: float
    params: dict[str, Any] = field(default_factory=dict)
    n_folds: int = 0
    seed: int = 0

    @property
    def trained_folds(self) -> tuple[int, ...]:
        return tuple(sorted(self.boosters))


def xgb_params(config: ModelConfig, *, device: str = "cpu", threads: int = 0) -> dict[str, Any]:
    """XGBoost native parameters for ``config``.

    ``threads=0`` leaves ``nthread`` unset, so XGBoost follows the process-wide
    budget that `basketcast.device.set_thread_budget` put in ``OMP_NUM_THREADS``.
    """
    if not config.is_resolved:
        raise TypeError('model parameters set to "auto" are resolved against the data first')
    params: dict[str, Any] = {
        "objective": "binary:logistic",
        "eval_metric": "logloss",
        "tree_method": "hist",
        "device": device,
        "seed": config.seed,
        "max_depth": config.max_depth,
        "learning_rate": config.eta,
        "subsample": config.subsample,
        "colsample_bytree": config.colsample_bytree,
        "min_child_weight": config.min_child_weight,
        "lambda": config.reg_lambda,
        "alpha": config.reg_alpha,
        "max_bin": config.max_bin,
    }
    if threads > 0:
        params["nthread"] = threads
    return params


class _ReportProgress(xgb.callback.TrainingCallback):
    """Forward the validation log loss to the caller's callback every few rounds."""

    def __init__(self, fold: int, progress: Progress) -> None:
        super().__init__()
        self._fold = fold
        self._progress = progress

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        if (epoch + 1) % _PROGRESS_EVERY == 0:
            loss = evals_log["valid"]["logloss"][-1]
            self._progress(self._fold, f"round {epoch + 1}: valid logloss {loss:.5f}")
        return False


class _FeatureRows:
    """A feature frame's rows as float32 chunks where the booster lives.

    On the CPU each chunk is gathered from the frame when needed, so no full
    float32 copy of the rows is ever made (at full Instacart scale that copy is
    ~10 GB, beside a frame of the same size). On a GPU with room for it, every
    row is copied to the device once and each fold's chunks are gathered there.
    At full scale on an H200 a fold took ~85 s fed from host chunks (~75 s of it
    building the QuantileDMatrix) and takes ~7 s with the rows resident.
    """

    def __init__(self, frame: pl.DataFrame, names: list[str], device: str) -> None:
        self._frame, self.names = frame, names
        self._xp: Any = device_arrays(device)
        self._resident: Any = None
        if self._xp is not None and fits_on_device(self._xp, len(frame) * len(names) * 4):
            self._resident = stack_features(frame, names, self._xp)

    @property
    def resident(self) -> bool:
        """Whether every row lives on the device as one matrix."""
        return self._resident is not None

    def chunks(self, rows: np.ndarray, y: np.ndarray | None = None) -> Iterator[tuple[Any, Any]]:
        """(features, labels or None) of successive chunks of ``rows``, on the booster's device."""
        xp = self._xp
        if self._resident is not None:
            for start in range(0, len(rows), CHUNK_ROWS):
                index = rows[start : start + CHUNK_ROWS]
                labels = None if y is None else xp.asarray(y[index])
                yield self._resident[xp.asarray(index)], labels
            return
        for index, matrix in feature_chunks(self._frame, self.names, rows, chunk=CHUNK_ROWS):
            labels = None if y is None else y[index]
            if xp is not None:  # a GPU without room for every row: copy chunk by chunk
                matrix, labels = xp.asarray(matrix), None if labels is None else xp.asarray(labels)
            yield matrix, labels

    def release(self) -> None:
        """Hand the device copy back (CuPy keeps freed blocks in its pool, out of XGBoost's reach)."""
        self._resident = None
        if self._xp is not None and hasattr(self._xp, "get_default_memory_pool"):
            self._xp.get_default_memory_pool().free_all_blocks()


class _Chunks(xgb.DataIter):
    """Feeds a QuantileDMatrix the chosen rows and labels, one chunk at a time."""

    def __init__(self, source: _FeatureRows, rows: np.ndarray, y: np.ndarray) -> None:
        self._source, self._rows, self._y = source, rows, y
        self._chunks: Iterator[tuple[Any, Any]] | None = None
        super().__init__(release_data=True)

    def reset(self) -> None:
        self._chunks = None

    def next(self, input_data: Callable[..., None]) -> bool:
        if self._chunks is None:
            self._chunks = self._source.chunks(self._rows, self._y)
        batch = next(self._chunks, None)
        if batch is None:
            return False
        matrix, labels = batch
        input_data(data=matrix, label=labels, feature_names=self._source.names)
        return True


def _predict(booster: xgb.Booster, source: _FeatureRows, rows: np.ndarray) -> np.ndarray:
    """Probabilities for the chosen rows, predicted chunk by chunk on the booster's device."""
    out = np.empty(len(rows), dtype=np.float32)
    done = 0
    for matrix, _ in source.chunks(rows):
        p = booster.inplace_predict(matrix, validate_features=False)
        n = len(p)
        out[done : done + n] = p.get() if hasattr(p, "get") else p  # CuPy → host
        done += n
    return out


def train_cv(
    frame: pl.DataFrame,
    *,
    config: ModelConfig,
    device: str = "cpu",
    threads: int = 0,
    progress: Progress | None = None,
    callbacks: Sequence[xgb.callback.TrainingCallback] = (),
) -> CVResult:
    """Train one XGBoost model per fold with user-grouped folds.

    Parameters
    ----------
    frame
        An item feature frame (``order_id, user_id, product_id, depth, label``
        + Float32 features) or an order-level frame (the same without
        ``product_id``). ``label`` is null for test rows.
    config
        Folds, which folds to train, seed and XGBoost parameters.
    device
        XGBoost device, already resolved (`basketcast.device.resolve_device`).
    threads
        XGBoost threads; 0 follows the process-wide thread budget.
    progress
        Optional ``(fold, message)`` callback; the library itself never prints.
    callbacks
        Extra XGBoost callbacks for every fold (e.g. a tuner's pruning callback,
        which sees the ``valid-logloss`` of the held-out depth-0 rows).

    Returns
    -------
    CVResult
    """
    names = check_frame(frame)
    keys = id_columns(frame)
    report: Progress = progress or (lambda fold, message: None)
    # A run resolves "auto" against its whole data set first; called directly, the frame's
    # users decide.
    config = config.resolved(users=frame["user_id"].n_unique())
    params = xgb_params(config, device=device, threads=threads)
    nthread = threads if threads > 0 else None

    fold = assign_folds(frame["user_id"], folds=config.folds, seed=config.seed).to_numpy()
    labelled = frame["label"].is_not_null().to_numpy()
    y = frame["label"].fill_null(0).cast(pl.Float32).to_numpy()
    depth0 = (frame["depth"] == 0).to_numpy()

    test_rows = np.flatnonzero(~labelled)
    test_sum = np.zeros(len(test_rows), dtype=np.float64)
    oof_p = np.full(len(frame), np.nan, dtype=np.float32)
    oof_rows = np.zeros(len(frame), dtype=bool)

    boosters: dict[int, xgb.Booster] = {}
    fold_rows: list[dict[str, Any]] = []
    importance_rows: list[dict[str, Any]] = []
    source = _FeatureRows(frame, names, device)
    where = " (every row resident on the GPU)" if source.resident else ""
    try:
        for f in sorted(set(config.folds_to_train)):
            start = time.perf_counter()
            in_fold = fold == f
            train_mask = labelled & ~in_fold
            held_out = labelled & in_fold
            valid_mask = held_out & depth0
            n_train, n_valid = int(train_mask.sum()), int(valid_mask.sum())
            if n_train == 0 or n_valid == 0:
                raise ValueError(
                    f"fold {f} has {n_train} training rows and {n_valid} labelled depth-0 rows to "
                    f"validate on; both must be positive (too few users for {config.folds} folds?)"
                )
            report(
                f,
                f"training on {n_train:,} rows, early stopping on {n_valid:,} depth-0 rows{where}",
            )

            dtrain = xgb.QuantileDMatrix(
                _Chunks(source, np.flatnonzero(train_mask), y),
                max_bin=config.max_bin,
                nthread=nthread,
            )
            # `ref=` reuses the training quantiles instead of sketching the validation rows again.
            dvalid = xgb.QuantileDMatrix(
                _Chunks(source, np.flatnonzero(valid_mask), y),
                max_bin=config.max_bin,
                ref=dtrain,
                nthread=nthread,
            )
            members = []
            for member in range(config.bagging):
                # Member 0 is the model an unbagged run trains; the caller's callbacks (a
                # tuner's pruning) follow it alone, so they see one run of rounds.
                fold_callbacks: list[xgb.callback.TrainingCallback] = [
                    xgb.callback.EarlyStopping(rounds=config.early_stopping_rounds, save_best=True),
                    *(callbacks if member == 0 else ()),
                ]
                if progress is not None:
                    fold_callbacks.append(_ReportProgress(f, progress))
                member_params = params | {"seed": member_seed(config.seed, member)}
                members.append(
                    xgb.train(
                        member_params,
                        dtrain,
                        num_boost_round=config.num_boost_round,
                        evals=[(dvalid, "valid")],
                        callbacks=fold_callbacks,
                        verbose_eval=False,
                    )
                )
            del dtrain, dvalid
            # Member 0's best round (a bag's merged booster holds every member's trees).
            best_iteration = members[0].num_boosted_rounds() - 1
            booster = average_boosters(members)

            p_held = _predict(booster, source, np.flatnonzero(held_out))
            oof_p[held_out] = p_held
            oof_rows |= held_out
            if len(test_rows):
                test_sum += _predict(booster, source, test_rows)

            p_valid = p_held[depth0[held_out]]
            y_valid = y[valid_mask]
            loss, auc = log_loss(y_valid, p_valid), roc_auc(y_valid, p_valid)
            seconds = time.perf_counter() - start
            boosters[f] = booster
            fold_rows.append(
                {
                    "fold": f,
                    "n_train": n_train,
                    "n_valid": n_valid,
                    "best_iteration": best_iteration,
                    "logloss": loss,
                    "auc": auc,
                    "seconds": seconds,
                }
            )
            # Features never split on are absent from get_score; report them as 0.
            gain = booster.get_score(importance_type="total_gain")
            importance_rows += [
                {"feature": n, "fold": f, "gain": float(cast(float, gain.get(n, 0.0)))}
                for n in names
            ]
            report(
                f,
                f"done in {seconds:.1f}s: best iteration {best_iteration}, "
                f"logloss {loss:.5f}, AUC {auc:.4f}",
            )
    finally:
        source.release()

    ids = frame.select(keys)
    oof = ids.with_columns(
        pl.Series("fold", fold, dtype=FOLD_DTYPE), pl.Series("p", oof_p, dtype=pl.Float32)
    ).filter(pl.Series(oof_rows))
    test_p = (test_sum / max(len(boosters), 1)).astype(np.float32)
    test = ids.filter(pl.Series(~labelled)).with_columns(pl.Series("p", test_p, dtype=pl.Float32))

    scored = oof_rows & depth0
    return CVResult(
        boosters=boosters,
        oof=oof,
        test=test,
        fold_metrics=pl.DataFrame(
            fold_rows,
            schema={
                "fold": FOLD_DTYPE,
                "n_train": pl.Int64,
                "n_valid": pl.Int64,
                "best_iteration": pl.Int32,
                "logloss": pl.Float64,
                "auc": pl.Float64,
                "seconds": pl.Float64,
            },
        ),
        importance=pl.DataFrame(
            importance_rows, schema={"feature": pl.String, "fold": FOLD_DTYPE, "gain": pl.Float64}
        ),
        feature_names=names,
        logloss=log_loss(y[scored], oof_p[scored]),
        auc=roc_auc(y[scored], oof_p[scored]),
        params=params,
        n_folds=config.folds,
        seed=config.seed,
    )
