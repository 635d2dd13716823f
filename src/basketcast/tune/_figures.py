"""The tuner's two figures: the optimisation history and the parameter importances."""

from __future__ import annotations

import numpy as np
import polars as pl
from matplotlib.ticker import MaxNLocator

from basketcast.report.figures import _bar_height, _figure, _png

__all__ = ["history", "importances"]

_COLOR, _ACCENT, _GREY = "#3b6ea5", "#d1603d", "#9aa0a6"


def history(table: pl.DataFrame) -> bytes:
    """Objective per trial (complete: dots; pruned: crosses at their last fold-0 value) and the
    best so far."""
    fig = _figure()
    ax = fig.add_subplot()
    if table.height:
        for state, marker, color in (("COMPLETE", "o", _COLOR), ("PRUNED", "x", _GREY)):
            rows = table.filter((pl.col("state") == state) & pl.col("logloss").is_not_null())
            if rows.height:
                ax.scatter(
                    rows["number"].to_numpy(), rows["logloss"].to_numpy(), marker=marker,
                    s=18, color=color, label=state.lower(),
                )  # fmt: skip
        complete = table.filter(pl.col("state") == "COMPLETE").sort("number")
        if complete.height:
            best = np.minimum.accumulate(complete["logloss"].to_numpy())
            ax.step(complete["number"].to_numpy(), best, where="post", color=_ACCENT,
                    label="best so far")  # fmt: skip
            values = complete["logloss"].to_numpy()
            low, high = float(best.min()), float(np.quantile(values, 0.9))
            if len(values) >= 10 and high > low:  # a few poor trials must not squash the rest
                ax.set_ylim(low - 0.05 * (high - low), high + 0.15 * (high - low))
        ax.legend(fontsize=8, loc="best")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    ax.set_ylabel("out-of-fold log loss (mean over folds)")
    ax.set_title("Optimisation history")
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def importances(values: dict[str, float]) -> bytes:
    """Horizontal bars, most important parameter at the top."""
    names = list(values)
    fig = _figure(height=_bar_height(len(names)))
    ax = fig.add_subplot()
    y = np.arange(len(names))
    ax.barh(y, [values[n] for n in names], color=_COLOR)
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("PED-ANOVA importance (normalised to sum to 1)")
    ax.set_title("Parameter importance")
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)
