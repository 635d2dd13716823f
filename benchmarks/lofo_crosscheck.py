"""Cross-check basketcast's LOFO against the reference implementation, lofo-importance.

    pip install lofo-importance   # pandas + scikit-learn; not a basketcast dependency
    PYTHONPATH=. python benchmarks/lofo_crosscheck.py   # from the repository root

On the planted frame of the tests (label ~ sigmoid(-1 + 2 driver + weak), a
near-copy of the driver, three noise columns), both compute the rise in log
loss when each family is left out, on the same user-grouped folds: train on
every labelled row of the other folds, score the fold's depth-0 rows.
lofo-importance fits a fixed number of trees (the rounds basketcast's early
stopping chose); basketcast early-stops per model. Prints both tables.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from tests.importance._planted import FAMILIES, planted_frame, planted_run

from basketcast.importance import LofoImportanceEvaluator, get_importances


def main() -> None:
    import lofo
    import xgboost as xgb

    frame = planted_frame(users=1000, candidates=10, seed=0)
    run = planted_run(frame)
    ours = get_importances(run, evaluator=LofoImportanceEvaluator(budget=0, threads=1))

    rows = run.labelled_rows()
    fold, depth = rows["fold"].to_numpy(), rows["depth"].to_numpy()
    cv = [
        (np.flatnonzero(fold != f), np.flatnonzero((fold == f) & (depth == 0)))
        for f in run.trained_folds
    ]
    rounds = int(np.mean([b.num_boosted_rounds() for b in run.boosters.values()]))
    model = xgb.XGBClassifier(
        n_estimators=rounds, max_depth=3, learning_rate=0.3, subsample=1.0,
        colsample_bytree=1.0, tree_method="hist", n_jobs=1, random_state=0,
    )  # fmt: skip
    df = rows.to_pandas()
    groups = {name: df[cols].values for name, cols in FAMILIES.items()}
    dataset = lofo.Dataset(df=df, target="label", features=[], feature_groups=groups)
    reference = lofo.LOFOImportance(dataset, scoring="neg_log_loss", model=model, cv=cv)
    theirs = pl.from_pandas(reference.get_importance())

    print("basketcast LOFO (rise in out-of-fold log loss, 95 % interval over users):")
    print(ours.table.select("name", "importance", "low", "high"))
    print(f"lofo-importance (neg_log_loss lost, mean and sd over {len(cv)} folds, {rounds} trees):")
    print(theirs.select("feature", "importance_mean", "importance_std"))


if __name__ == "__main__":
    main()
