"""Leave-one-feature-out (LOFO) importance: retrain without a feature or family, measure the loss.

The reference is aerdem4/lofo-importance: the same idea (retrain on the same
grouped folds, importance = the score lost), with basketcast's own folds,
frame and metrics, so it can score the expected-F1 baskets too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import polars as pl

from basketcast.device import resolve_device
from basketcast.errors import UsageError
from basketcast.importance._base import (
    BaseImportanceEvaluator,
    By,
    Importance,
    Progress,
    finish_table,
)
from basketcast.importance._families import resolve_groups
from basketcast.importance._run import RunArtifacts
from basketcast.importance._scoring import OofScores, oof_scores, paired_bootstrap
from basketcast.model import train_cv

__all__ = ["LofoImportanceEvaluator", "correlated_pairs"]

CORRELATED = 0.95
"""|Pearson r| from which two features in different groups are called stand-ins for each other."""


class LofoImportanceEvaluator(BaseImportanceEvaluator):
    """Retrain the item model with each feature (or family) left out, on the run's folds.

    Importance is the rise in out-of-fold log loss when the group is left out
    (positive: the model needs it; negative: it hurts), with a 95 % paired
    bootstrap interval over users; the changes in AUC and in the mean F1 of
    the expected-F1 baskets are reported beside it. Every model, the baseline
    with all features included, is trained the same way on the same rows.

    The cost is bounded by `budget`: unless `folds` or `user_share` are given,
    LOFO retrains as many of the run's folds (and, if even one fold is too
    many, as large a seeded share of users) as keep its training within
    `budget` times the run's own item-model training. The output states what
    was used.

    Parameters
    ----------
    folds
        Which of the run's trained folds to retrain (default: chosen by `budget`).
    user_share
        Retrain on this share of users, drawn with `seed` (default: chosen by `budget`).
    budget
        The most training LOFO may do, in units of the run's item-model
        training (all its trained folds); 0 lifts the bound: every trained
        fold, every user.
    together
        Extra groups taken out at once, each a list of feature or family names.
    seed
        Seeds the user sample and the bootstrap.
    threads
        XGBoost threads (0: the run's setting).
    device
        ``auto``, ``cpu`` or ``cuda``; default: the run's model device.
    progress
        Called with a message before each retraining.
    """

    method = "lofo"

    def __init__(
        self,
        *,
        folds: Sequence[int] = (),
        user_share: float | None = None,
        budget: float = 3.0,
        together: Sequence[Sequence[str]] = (),
        seed: int = 0,
        threads: int = 0,
        device: str | None = None,
        progress: Progress | None = None,
    ) -> None:
        if user_share is not None and not 0 < user_share <= 1:
            raise UsageError(f"user_share must be in (0, 1], got {user_share}")
        if budget < 0:
            raise UsageError(f"budget must be >= 0, got {budget}")
        self.folds, self.user_share, self.together = tuple(folds), user_share, together
        self.budget = budget
        self.seed, self.threads, self.device = seed, threads, device
        self.progress: Progress = progress or (lambda message: None)

    def evaluate(self, run: RunArtifacts, *, by: By = "family") -> Importance:
        missing = sorted(set(self.folds) - set(range(run.n_folds)))
        if missing:
            raise UsageError(f"folds {missing} do not exist: the run has {run.n_folds} folds")
        names = run.feature_names
        groups = resolve_groups(names, families=run.families, together=self.together, by=by)
        folds, user_share, cost = plan(
            models=len(groups) + 1,
            trained=run.trained_folds,
            folds=self.folds,
            user_share=self.user_share,
            budget=self.budget,
        )
        frame = run.labelled_rows(user_share=user_share, seed=self.seed).drop("fold")
        config = replace(run.config.model, train_folds=tuple(sorted(folds)))
        device = resolve_device(self.device or config.device)
        threads = self.threads or run.config.threads

        def fit(without: Sequence[str], label: str) -> OofScores:
            self.progress(f"{label} ({len(groups) + 1} models in all)")
            result = train_cv(frame.drop(without), config=config, device=device, threads=threads)
            scored = result.oof.filter(pl.col("depth") == 0)
            rows = scored.join(
                frame.select("order_id", "product_id", "label"),
                on=["order_id", "product_id"],
                how="left",
            )
            return oof_scores(rows, rows.get_column("p").to_numpy())

        for name, cols in groups.items():
            if set(names) <= set(cols):
                raise UsageError(f"{name!r} holds every feature: nothing would be left to train on")
        base = fit([], "baseline: every feature")
        dropped = {name: fit(cols, f"without {name}") for name, cols in groups.items()}
        table = _table(base, dropped, seed=self.seed)
        table = table.with_columns(
            features=pl.col("name").replace_strict(
                {g: ", ".join(c) for g, c in groups.items()}, default=""
            )
        )
        pairs = correlated_pairs(frame, names, groups, seed=self.seed)
        return Importance(
            method=self.method,
            by=by,
            table=finish_table(table, run, by),
            meaning="rise in out-of-fold log loss when left out (negative: the model is better "
            "without it)",
            settings={
                "folds": list(config.train_folds),
                "of_folds": run.n_folds,
                "user_share": user_share,
                "budget": self.budget or "none",
                "estimated_cost": f"{cost:.2f}x the run's item-model training",
                "users": int(base.users.size),
                "rows_scored": int(base.rows.sum()),
                "models_trained": len(dropped) + 1,
                "seed": self.seed,
                "device": device,
                "baseline_logloss": base.logloss,
                "baseline_auc": base.auc,
                "baseline_f1": base.f1,
                "interval": "95 % paired bootstrap over users (1000 resamples) for log loss and "
                "F1; AUC change is a point estimate",
                "f1_baskets": "expected-F1 baskets with p(None) = prod(1 - p) (no None model)",
            },
            notes=_notes(table, pairs),
        )


def plan(
    *,
    models: int,
    trained: Sequence[int],
    folds: Sequence[int],
    user_share: float | None,
    budget: float,
) -> tuple[tuple[int, ...], float, float]:
    """Folds and user share for `models` retrainings within `budget`; and the estimated cost.

    Training cost is taken as proportional to folds x users, in units of the
    run's training (`trained` folds, every user): ``models * folds/trained * share``.
    """
    n = len(trained)
    chosen = tuple(sorted(folds))
    if not chosen:
        fit = n if budget == 0 else int(budget * n // models)
        chosen = tuple(sorted(trained))[: max(1, min(n, fit))]
    if user_share is None:
        room = 1.0 if budget == 0 else budget * n / (models * len(chosen))
        user_share = min(1.0, room)
    return chosen, user_share, models * len(chosen) / n * user_share


def _table(base: OofScores, dropped: dict[str, OofScores], *, seed: int) -> pl.DataFrame:
    """One row per group: changes in log loss (with interval), AUC and F1 (with interval)."""
    names = list(dropped)
    loss = np.stack([d.loss_sum - base.loss_sum for d in dropped.values()])
    f1 = np.stack([base.f1_per_user - d.f1_per_user for d in dropped.values()])
    for d in dropped.values():
        if not np.array_equal(d.users, base.users):
            raise AssertionError("LOFO models were scored on different users")  # never: same rows
    loss_ci = paired_bootstrap(loss, base.rows, seed=seed)
    f1_ci = paired_bootstrap(f1, np.ones_like(base.rows), seed=seed + 1)
    table = pl.DataFrame(
        {
            "name": names,
            "importance": [d.logloss - base.logloss for d in dropped.values()],
            "low": loss_ci[:, 0],
            "high": loss_ci[:, 1],
            "auc_drop": [base.auc - d.auc for d in dropped.values()],
            "f1_drop": [base.f1 - d.f1 for d in dropped.values()],
            "f1_low": f1_ci[:, 0],
            "f1_high": f1_ci[:, 1],
            "logloss_without": [d.logloss for d in dropped.values()],
        }
    )
    return table


def correlated_pairs(
    frame: pl.DataFrame,
    names: Sequence[str],
    groups: dict[str, list[str]],
    *,
    seed: int,
    rows: int = 50_000,
    threshold: float = CORRELATED,
) -> list[tuple[str, str, float]]:
    """Feature pairs in different single groups with |Pearson r| >= `threshold` on a row sample."""
    owner: dict[str, str] = {}
    for group, cols in groups.items():
        if " + " in group:
            continue  # a `together` group overlaps the single ones by design
        for c in cols:
            owner.setdefault(c, group)
    sample = frame.select(names).sample(n=min(rows, frame.height), seed=seed)
    # Missing values take the column mean: they should not decide the correlation.
    matrix = sample.select(pl.all().cast(pl.Float64).fill_null(strategy="mean")).to_numpy()
    std = matrix.std(axis=0)
    usable = np.flatnonzero(std > 0)
    if usable.size < 2:
        return []
    with np.errstate(invalid="ignore"):
        r = np.corrcoef(matrix[:, usable], rowvar=False)
    found = []
    for a in range(len(usable)):
        for b in range(a + 1, len(usable)):
            first, second = names[usable[a]], names[usable[b]]
            if abs(r[a, b]) >= threshold and owner.get(first) != owner.get(second):
                found.append((first, second, float(r[a, b])))
    return sorted(found, key=lambda t: -abs(t[2]))


def _notes(table: pl.DataFrame, pairs: list[tuple[str, str, float]]) -> tuple[str, ...]:
    notes = [
        "LOFO measures what the model loses when a group is gone and the rest must stand in "
        "for it. Two groups that carry the same signal each score near 0 alone, because the "
        "other stands in; take them out together (--together A,B) to see their joint worth."
    ]
    hurts = table.filter(pl.col("high") < 0).get_column("name").to_list()
    if hurts:
        notes.append(
            f"negative importance: the model is better without {', '.join(hurts)} "
            "(the whole interval is below 0): it hurts."
        )
    unclear = table.filter((pl.col("importance") < 0) & (pl.col("high") >= 0))
    if unclear.height:
        notes.append(
            f"{', '.join(unclear.get_column('name'))}: a negative change whose interval reaches "
            "0: no evidence the model needs it, nor that it hurts."
        )
    for first, second, r in pairs[:5]:
        notes.append(
            f"{first} and {second} are correlated (r = {r:.3f}) but lie in different groups: "
            f"each one's LOFO understates their joint worth (try --together {first},{second})."
        )
    if len(pairs) > 5:
        notes.append(f"... and {len(pairs) - 5} more correlated pairs (|r| >= {CORRELATED}).")
    return tuple(notes)
