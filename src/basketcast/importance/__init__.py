"""Which features the item model relies on: gain, SHAP and leave-one-feature-out (LOFO).

One base class, three evaluators, one public function, in the manner of
`optuna.importance.get_param_importances`::

    from basketcast.importance import LofoImportanceEvaluator, get_importances

    result = get_importances("runs/demo", evaluator=LofoImportanceEvaluator(), by="family")
    print(result.table)
"""

from __future__ import annotations

from pathlib import Path

from basketcast.errors import UsageError
from basketcast.importance._base import BY, BaseImportanceEvaluator, By, Importance
from basketcast.importance._families import feature_families
from basketcast.importance._gain import GainImportanceEvaluator, mean_gain
from basketcast.importance._lofo import LofoImportanceEvaluator
from basketcast.importance._output import (
    EXPLANATIONS,
    SavedImportance,
    explanations_folder,
    read_importances,
    write_importance,
)
from basketcast.importance._run import RunArtifacts, gain_table, load_run, published_run
from basketcast.importance._shap import ShapImportanceEvaluator

__all__ = [
    "BY",
    "EXPLANATIONS",
    "BaseImportanceEvaluator",
    "By",
    "GainImportanceEvaluator",
    "Importance",
    "LofoImportanceEvaluator",
    "RunArtifacts",
    "SavedImportance",
    "ShapImportanceEvaluator",
    "explanations_folder",
    "feature_families",
    "gain_table",
    "get_importances",
    "load_run",
    "mean_gain",
    "published_run",
    "read_importances",
    "write_importance",
]


def get_importances(
    run: str | Path | RunArtifacts,
    *,
    evaluator: BaseImportanceEvaluator | None = None,
    by: By | None = None,
) -> Importance:
    """Importances of a finished run's item model.

    Parameters
    ----------
    run
        A run folder (written by `basketcast run`) or a `RunArtifacts`.
    evaluator
        `GainImportanceEvaluator` (the default: no computation),
        `ShapImportanceEvaluator` or `LofoImportanceEvaluator`.
    by
        ``feature`` or ``family``; default ``family`` for LOFO (one retraining
        per family bounds its cost), ``feature`` otherwise.
    """
    evaluator = evaluator or GainImportanceEvaluator()
    artifacts = run if isinstance(run, RunArtifacts) else load_run(run)
    chosen: By = by or ("family" if isinstance(evaluator, LofoImportanceEvaluator) else "feature")
    if chosen not in BY:
        raise UsageError(f"by must be one of {BY}, got {chosen!r}")
    return evaluator.evaluate(artifacts, by=chosen)
