"""XGBoost with neighbour suspicion: stage-1 scores propagated to later payments of the same accounts.

Two stages, a gradient-boosting analogue of message passing on the
transaction graph:

1. **Stage 1** is `XGBoostDetector` on the detector's columns. Its scores on
   the training rows are *out of fold*: the training period is cut into
   `folds` contiguous time blocks and each block is scored by a model fitted
   on the other blocks, so a training row's score never comes from a model
   that saw its own label. One more stage-1 model, fitted on the whole
   training period, scores every later row.
2. **Neighbour features** (`amlwatch.detectors.neighbours`): for each payment,
   the maximum, sum and count of high stage-1 scores among the earlier
   payments and receipts of its sender and of its receiver within the last Δ
   (`window_days`), optionally one hop further.
3. **Stage 2** is `XGBoostDetector` on the same columns plus the neighbour
   columns, trained on the training rows (whose neighbours carry out-of-fold
   scores).

**The detector keeps a history**, as a stream scorer would: every row it has
been trained on or has scored, with its order key (timestamp, then `txn_id`:
the ledger's order), sender, receiver and stage-1 score. A row's neighbour
features read only history entries with a *smaller* order key, whatever
batch they came in with. So the pipeline's `fit(train)`, then
`decision_function(valid)`, then `decision_function(test)` gives the test
rows the validation period as context, exactly what a scorer running since
the training period would have seen; scoring the test period *before* the
validation period would give its first rows less context. Rows are
identified by `txn_id`: a row scored again (for `reasons`, or `predict`)
reuses its stored stage-1 score, and its features are the same unless rows
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
    columns : the feature columns of both stages (stage 2 adds the neighbour columns).
    rounds, params, seed : as `XGBoostDetector` (both stages).
    folds : contiguous time blocks of the training period for the out-of-fold stage-1 scores.
    window_days : the neighbour window Δ (3 days: chosen over 10 on the validation periods of
        the default world, benchmarks/README.md).
    high_quantile : rows whose stage-1 score reaches this quantile of the out-of-fold
        training scores count in the ``*_high`` columns.
    hops : 1, or 2 for the 2-hop columns too.
    own_score : give stage 2 the row's own stage-1 score as a column (``nb_self``).
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
        contamination: float = 0.001,
    ) -> None:
        super().__init__(contamination=contamination)
        if folds < 2:
            raise ValueError(f"folds must be >= 2, got {folds}")
        if not window_days > 0:
            raise ValueError(f"window_days must be > 0, got {window_days}")
        if not 0.0 < high_quantile < 1.0:
            raise ValueError(f"high_quantile must be in (0, 1), got {high_quantile}")
        self.columns = list(columns)
        self.rounds, self.params, self.seed = rounds, dict(params or {}), seed
        self.folds, self.window_days, self.high_quantile = folds, window_days, high_quantile
        self.hops, self.own_score = hops, own_score
        self.neighbour_names = neighbour_columns(hops=hops) + (["nb_self"] if own_score else [])
        self.stage1: XGBoostDetector | None = None
        self.stage2: XGBoostDetector | None = None
        self.high_: float | None = None
        self._history: dict[str, np.ndarray] = {}

    @property
    def booster(self) -> Any:
        """Stage 2's booster (what the pipeline saves beside the run)."""
        return None if self.stage2 is None else self.stage2.booster

    def _xgb(self, columns: list[str]) -> XGBoostDetector:
        return XGBoostDetector(
            columns=columns, rounds=self.rounds, params=self.params, seed=self.seed
        )

    def _fit(self, features: pl.DataFrame, labels: np.ndarray | None) -> None:
        assert labels is not None
        n = features.height
        if n < self.folds:
            raise ValueError(f"{self.name}: {n} training rows for {self.folds} folds")
        bounds = np.linspace(0, n, self.folds + 1).round().astype(int)
        oof = np.empty(n, dtype=np.float64)
        for a, b in itertools.pairwise(bounds.tolist()):
            rest = pl.concat([features[:a], features[b:]])
            fold = self._xgb(self.columns)
            fold._fit(rest, np.concatenate([labels[:a], labels[b:]]))
            oof[a:b] = fold._score(features[a:b])
        self.stage1 = self._xgb(self.columns)
        self.stage1._fit(features, labels)
        self.high_ = float(np.quantile(oof, self.high_quantile))
        self._history = {}
        self._remember(features, oof)
        self.stage2 = self._xgb(self.columns + self.neighbour_names)
        self.stage2._fit(self._with_neighbours(features), labels)

    def _score(self, features: pl.DataFrame) -> np.ndarray:
        assert self.stage2 is not None
        self._remember(features)
        return self.stage2._score(self._with_neighbours(features))

    def reasons(self, features: pl.DataFrame, *, top: int = 3) -> list[list[str]]:
        """Stage 2's features with the largest SHAP contributions towards laundering."""
        assert self.stage2 is not None
        self._remember(features)
        return self.stage2.reasons(self._with_neighbours(features), top=top)

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

    def _remember(self, features: pl.DataFrame, scores: np.ndarray | None = None) -> None:
        """Add the rows not yet in the history, with their stage-1 scores, in ledger order."""
        keys = self._keys(features)
        known = self._history.get("txn_id", np.empty(0, dtype=np.int64))
        new = ~np.isin(keys["txn_id"], known)
        if not new.any():
            return
        if scores is None:
            assert self.stage1 is not None
            scores = self.stage1._score(features.filter(pl.Series(new)))
        else:
            scores = np.asarray(scores, dtype=np.float64)[new]
        added = {k: v[new] for k, v in keys.items()} | {"score": scores}
        merged = {
            k: np.concatenate([self._history[k], added[k]]) if self._history else added[k]
            for k in added
        }
        order = np.lexsort((merged["txn_id"], merged["time"]))
        self._history = {k: v[order] for k, v in merged.items()}

    def _with_neighbours(self, features: pl.DataFrame) -> pl.DataFrame:
        """`features` with its rows' neighbour columns (read from the history)."""
        assert self.high_ is not None
        h = self._history
        values = neighbour_scores(
            h["src"],
            h["dst"],
            h["time"] // 60_000_000,
            h["score"],
            delta_minutes=round(self.window_days * DAY_MINUTES),
            high=self.high_,
            hops=self.hops,
        )
        if self.own_score:
            values = np.column_stack([values, h["score"]])
        # Each row's position in the history (every row is in it: `_remember` ran first).
        by_id = np.argsort(h["txn_id"], kind="stable")
        pos = by_id[
            np.searchsorted(h["txn_id"], features.get_column("txn_id").to_numpy(), sorter=by_id)
        ]
        cols = {
            name: values[pos, k].astype(np.float32) for k, name in enumerate(self.neighbour_names)
        }
        return features.drop([c for c in cols if c in features.columns]).hstack(pl.DataFrame(cols))
