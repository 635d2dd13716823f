"""The result every importance method returns, and the base class of the evaluators."""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import polars as pl

if TYPE_CHECKING:
    from basketcast.importance._run import RunArtifacts

__all__ = [
    "BY",
    "TABLE_COLUMNS",
    "BaseImportanceEvaluator",
    "By",
    "Importance",
    "Progress",
    "finish_table",
    "group_of",
]

By = Literal["feature", "family"]
BY: tuple[By, ...] = ("feature", "family")

TABLE_COLUMNS = ("name", "features", "importance", "low", "high")
"""Every method's table starts with these: ``name`` (a feature or a family), ``features``
(the columns it covers), ``importance`` (the method's headline number, larger = more
important), and its 95 % interval ``low``/``high`` (null when the method has none)."""


Progress = Callable[[str], None]
"""``progress(message)``: the library never prints; the CLI shows these messages."""


@dataclass(frozen=True)
class Importance:
    """One method's importances for one run.

    Attributes
    ----------
    method
        ``gain``, ``shap`` or ``lofo``.
    by
        ``feature`` or ``family``: what a row of `table` is.
    table
        `TABLE_COLUMNS` first, then the method's own columns; largest
        importance first.
    meaning
        One line: what the ``importance`` column measures.
    settings
        What it was computed on (folds, rows, sample, seed, ...), stated in every output.
    notes
        How to read it: caveats found in this very result.
    values
        SHAP only (by feature): the sampled rows' contributions, ``name, shap,
        value_rank`` (the feature value's rank in the sample, 0..1), for the
        beeswarm figure; otherwise None.
    """

    method: str
    by: By
    table: pl.DataFrame
    meaning: str
    settings: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    values: pl.DataFrame | None = None


class BaseImportanceEvaluator(abc.ABC):
    """An importance method. Constructors only store options; `evaluate` does the work.

    Every evaluator passes the shared contract tests in ``tests/importance``.
    """

    method: ClassVar[str]

    @abc.abstractmethod
    def evaluate(self, run: RunArtifacts, *, by: By = "feature") -> Importance:
        """Importances of the item model of a finished `run`, per feature or per family."""


def group_of(run: RunArtifacts, by: By) -> dict[str, str]:
    """Each model feature's row name: itself, or its family."""
    if by == "feature":
        return {n: n for n in run.feature_names}
    return {c: family for family, cols in run.families.items() for c in cols}


def finish_table(table: pl.DataFrame, run: RunArtifacts, by: By) -> pl.DataFrame:
    """Put `TABLE_COLUMNS` first (``low``/``high`` null when absent); sort by importance, then name."""
    covers = (
        {n: n for n in run.feature_names}
        if by == "feature"
        else {f: ", ".join(cols) for f, cols in run.families.items()}
    )
    if "low" not in table.columns:
        table = table.with_columns(low=pl.lit(None, pl.Float64), high=pl.lit(None, pl.Float64))
    if "features" not in table.columns:
        table = table.with_columns(features=pl.col("name").replace_strict(covers, default=""))
    extra = [c for c in table.columns if c not in TABLE_COLUMNS]
    return table.select(*TABLE_COLUMNS, *extra).sort(
        ["importance", "name"], descending=[True, False], nulls_last=True
    )
