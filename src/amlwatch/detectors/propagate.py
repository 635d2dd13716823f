"""XGBoost with neighbour suspicion: stage-1 scores propagated to later payments of the same accounts.

Two stages, a gradient-boosting analogue of message passing on the
transaction graph:

1. **Stage 1** is `XGBoostDetector` on the detector's columns. Its scores on
   the training rows are *out of fold*: the training period is cut into
   `folds` contiguous time blocks and each block is scored by a model fitted
   on the other blocks, so a training row's score never comes from a model
   that saw its own label. With `purge_days` > 0 a block's model also leaves
   out the rows within that many days on either side of the block, so a
   ring that straddles a block boundary cannot lend its other legs' labels
   to the block's scores (purged k-fold). One more stage-1 model, fitted on
   the whole training period, scores every later row.
2. **Neighbour features** (`amlwatch.detectors.neighbours`): for each payment,
   the maximum, sum and count of high stage-1 scores among the earlier
   payments and receipts of its sender and of its receiver within the last Δ
   (`window_days`), optionally one hop further.
3. **Stage 2** is `XGBoostDetector` on the same columns plus the neighbour
   columns, trained on the training rows (whose neighbours carry out-of-fold
   scores).
4. With `levels` = 2, stage 2 is scored out of fold in the same way, its
   scores are propagated again (columns ``nb2_*``) and stage 3 decides on the
   columns plus both sets of neighbour columns: two rounds of message passing.

**The detector keeps a history**, as a stream scorer would: every row it has
been trained on or has scored, with its order key (timestamp, then `txn_id`:
the ledger's order), sender, receiver and each level's score. A row's neighbour
features read only history entries with a *smaller* order key, whatever
batch they came in with. So the pipeline's `fit(train)`, then
`decision_function(valid)`, then `decision_function(test)` gives the test
rows the validation period as context, exactly what a scorer running since
the training period would have seen; scoring the test period *before* the
validation period would give its first rows less context. Rows are
identified by `txn_id`: a row scored again (for `reasons`, or `predict`)
reuses its stored scores, and its features are the same unless rows
that precede it were added in between. `fit` starts a new history.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import polars as pl

from amlwatch.detectors.base import Detector
from amlwatch.detectors.neighbours import neighbour_columns, neighbour_scores
from amlwatch.detectors.xgb import XGBoostDetector

__all__ = ["PropagatedXGBoostDetector"]

DAY_MINUTES = 1440
_KEYS = ("timestamp", "txn_id", "src", "dst")


class PropagatedXGBoostDetector(Detector):
    """Stage-1 XGBoost, its scores aggregated over each payment's past neighbours, stage-2 XGBoost.

    Parameters
    ----------
    columns : the feature columns of every stage (later stages add neighbour columns).
    rounds, params, seed : as `XGBoostDetector` (every stage).
    folds : contiguous time blocks of the training period for the out-of-fold scores.
    window_days : the neighbour window Δ (3 days: chosen over 10 on the validation periods of
        the default world, benchmarks/README.md).
    high_quantile : rows whose score reaches this quantile of the out-of-fold training
        scores count in the ``*_high`` columns.
    hops : 1, or 2 for the 2-hop columns too.
    own_score : give the next stage the row's own score as a column (``nb_self``).
    purge_days : leave out of each out-of-fold model the training rows this close in time
        to its block (0: plain contiguous blocks).
    levels : rounds of propagation. 1: stage 1's scores are propagated once and stage 2
        decides. 2: stage 2 is itself scored out of fold, its scores are propagated again
        (columns ``nb2_*``) and a stage 3 decides on both sets of neighbour columns: a
        ring's suspicion travels two legs. Each level costs ``folds`` + 1 more fits.
    """

    name = "xgboost_propagated"
    supervised = True

    def __init__(
        self,
        *,
        columns: list[str],
        rounds: int = 200,
        params: dict[str, Any] | None = None,
        seed: int = 0,
        folds: int = 5,
        window_days: float = 3.0,
        high_quantile: float = 0.99,
        hops: int = 1,
        own_score: bool = False,
        purge_days: float = 0.0,
        levels: int = 1,
        contamination: float = 0.001,
    ) -> None:
        super().__init__(contamination=contamination)
        if folds < 2:
            raise ValueError(f"folds must be >= 2, got {folds}")
        if not window_days > 0:
            raise ValueError(f"window_days must be > 0, got {window_days}")
        if not 0.0 < high_quantile < 1.0:
            raise ValueError(f"high_quantile must be in (0, 1), got {high_quantile}")
        if not purge_days >= 0:
            raise ValueError(f"purge_days must be >= 0, got {purge_days}")
        if levels < 1:
            raise ValueError(f"levels must be >= 1, got {levels}")
        self.columns = list(columns)
        self.rounds, self.params, self.seed = rounds, dict(params or {}), seed
        self.folds, self.window_days, self.high_quantile = folds, window_days, high_quantile
        self.hops, self.own_score, self.purge_days = hops, own_score, purge_days
        self.levels = levels
        own = ["nb_self"] if own_score else []
        first = neighbour_columns(hops=hops) + own
        # Level k's neighbour columns (k = 0: from stage 1's scores): nb_*, nb2_*, ...
        self.neighbour_names = [
            [name if k == 0 else f"nb{k + 1}_" + name[3:] for name in first] for k in range(levels)
        ]
        self.stages: list[XGBoostDetector] = []  # stage k + 1 scores level k's rows
        self.final: XGBoostDetector | None = None
        self.highs_: list[float] = []
        self.oof_scores_: np.ndarray | None = None  # stage 1's out-of-fold training scores
        self._history: dict[str, np.ndarray] = {}

    @property
    def booster(self) -> Any:
        """The last stage's booster (what the pipeline saves beside the run)."""
        return None if self.final is None else self.final.booster

    def _xgb(self, columns: list[str]) -> XGBoostDetector:
        return XGBoostDetector(
            columns=columns, rounds=self.rounds, params=self.params, seed=self.seed
        )

    def _out_of_fold(
        self, frame: pl.DataFrame, labels: np.ndarray, columns: list[str], time: np.ndarray
    ) -> np.ndarray:
        """Each time block's scores from a model fitted on the other blocks (less the purge)."""
        n = frame.height
        bounds = np.linspace(0, n, self.folds + 1).round().astype(int)
        purge = round(self.purge_days * DAY_MINUTES * 60_000_000)
        oof = np.empty(n, dtype=np.float64)
        for a, b in itertools.pairwise(bounds.tolist()):
            keep = np.ones(n, dtype=bool)
            keep[a:b] = False
            if purge:
                block = time[a:b]
                keep &= (time < block.min() - purge) | (time > block.max() + purge)
                if not keep.any():
                    raise ValueError(
                        f"{self.name}: purge_days={self.purge_days} leaves no training rows "
                        f"for the block of rows {a}-{b - 1}"
                    )
            fold = self._xgb(columns)
            fold._fit(frame.filter(pl.Series(keep)), labels[keep])
            oof[a:b] = fold._score(frame[a:b])
        return oof

    def _fit(self, features: pl.DataFrame, labels: np.ndarray | None) -> None:
        assert labels is not None
        n = features.height
        if n < self.folds:
            raise ValueError(f"{self.name}: {n} training rows for {self.folds} folds")
        time = self._keys(features)["time"]
        self._history, self.stages, self.highs_ = {}, [], []
        pos = self._remember(features)
        frame, columns = features, list(self.columns)
        for level in range(self.levels):
            oof = self._out_of_fold(frame, labels, columns, time)
            if level == 0:
                self.oof_scores_ = oof
            stage = self._xgb(columns)
            stage._fit(frame, labels)
            self.stages.append(stage)
            self._history[f"score{level}"][pos] = oof
            self.highs_.append(float(np.quantile(oof, self.high_quantile)))
            frame = self._with_neighbours(frame, level, pos)
            columns = columns + self.neighbour_names[level]
        self.final = self._xgb(columns)
        self.final._fit(frame, labels)

    def _propagate(self, features: pl.DataFrame) -> pl.DataFrame:
        """`features` with every level's neighbour columns; new rows join the history."""
        assert self.final is not None
        pos = self._remember(features)
        frame = features
        for level, stage in enumerate(self.stages):
            score = self._history[f"score{level}"]
            todo = np.isnan(score[pos])  # rows scored before keep their stored score
            if todo.any():
                score[pos[todo]] = stage._score(frame.filter(pl.Series(todo)))
            frame = self._with_neighbours(frame, level, pos)
        return frame

    def _score(self, features: pl.DataFrame) -> np.ndarray:
        assert self.final is not None
        return self.final._score(self._propagate(features))

    def reasons(self, features: pl.DataFrame, *, top: int = 3) -> list[list[str]]:
        """The last stage's features with the largest SHAP contributions towards laundering."""
        assert self.final is not None
        return self.final.reasons(self._propagate(features), top=top)

    def _keys(self, features: pl.DataFrame) -> dict[str, np.ndarray]:
        missing = [c for c in _KEYS if c not in features.columns]
        if missing:
            raise ValueError(
                f"{self.name}: feature frame lacks {len(missing)} key column(s), e.g. {missing}"
            )
        return {
            "time": features.get_column("timestamp").dt.epoch("us").to_numpy().astype(np.int64),
            "txn_id": features.get_column("txn_id").to_numpy().astype(np.int64),
            "src": features.get_column("src").to_numpy().astype(np.int64),
            "dst": features.get_column("dst").to_numpy().astype(np.int64),
        }

    def _remember(self, features: pl.DataFrame) -> np.ndarray:
        """Add the rows not yet in the history (scores unknown: NaN), in ledger order; return
        every row's position in the history."""
        keys = self._keys(features)
        known = self._history.get("txn_id", np.empty(0, dtype=np.int64))
        new = ~np.isin(keys["txn_id"], known)
        if new.any():
            added = {k: v[new] for k, v in keys.items()} | {
                f"score{k}": np.full(int(new.sum()), np.nan) for k in range(self.levels)
            }
            merged = {
                k: np.concatenate([self._history[k], added[k]]) if self._history else added[k]
                for k in added
            }
            order = np.lexsort((merged["txn_id"], merged["time"]))
            self._history = {k: v[order] for k, v in merged.items()}
        ids = self._history["txn_id"]
        by_id = np.argsort(ids, kind="stable")
        return by_id[np.searchsorted(ids, keys["txn_id"], sorter=by_id)]

    def _with_neighbours(self, frame: pl.DataFrame, level: int, pos: np.ndarray) -> pl.DataFrame:
        """`frame` (rows at history positions `pos`) with level `level`'s neighbour columns."""
        h = self._history
        score = h[f"score{level}"]
        values = neighbour_scores(
            h["src"],
            h["dst"],
            h["time"] // 60_000_000,
            score,
            delta_minutes=round(self.window_days * DAY_MINUTES),
            high=self.highs_[level],
            hops=self.hops,
        )
        if self.own_score:
            values = np.column_stack([values, score])
        names = self.neighbour_names[level]
        cols = {name: values[pos, k].astype(np.float32) for k, name in enumerate(names)}
        return frame.drop([c for c in cols if c in frame.columns]).hstack(pl.DataFrame(cols))
