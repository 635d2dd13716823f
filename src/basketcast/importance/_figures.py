"""Importance figures (PNG bytes): bars with their spread or interval, and the SHAP beeswarm."""

from __future__ import annotations

import numpy as np
import polars as pl

from basketcast.importance._base import Importance
from basketcast.report.figures import _bar_height, _figure, _png, _text

__all__ = ["bars", "beeswarm"]

TOP = 25
_COLOR, _ACCENT = "#3b6ea5", "#d1603d"
_TITLES = {
    "gain": ("Gain importance", "mean total gain over folds (bar: ± 1 sd over folds)"),
    "shap": ("SHAP importance", "mean |SHAP| on the log-odds (bar: ± 1 sd over folds)"),
    "lofo": (
        "LOFO importance",
        "rise in out-of-fold log loss when left out (bar: 95 % interval)",
    ),
}


def bars(result: Importance, *, top: int = TOP) -> bytes:
    """The `top` rows as horizontal bars, largest first; negative ones in the accent colour."""
    table = result.table.head(top)
    n = table.height
    values = table.get_column("importance").to_numpy().astype(np.float64)
    if "spread" in table.columns:
        spread = table.get_column("spread").fill_null(0.0).to_numpy()
        err = np.vstack([spread, spread])
    else:
        low = table.get_column("low").fill_null(np.nan).to_numpy()
        high = table.get_column("high").fill_null(np.nan).to_numpy()
        err = np.nan_to_num(np.vstack([values - low, high - values]), nan=0.0).clip(min=0)
    title, xlabel = _TITLES.get(result.method, (result.method, result.meaning))
    fig = _figure(height=_bar_height(n))
    ax = fig.add_subplot()
    y = np.arange(n)
    colors = [_ACCENT if v < 0 else _COLOR for v in values]
    ax.barh(y, values, color=colors, xerr=err, error_kw={"elinewidth": 0.8, "capsize": 2})
    ax.set_yticks(y, [_text(label) for label in table.get_column("name").to_list()], fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0.0, color="#555555", linewidth=0.8)
    ax.set_xlabel(xlabel)
    ax.set_title(f"{title} by {result.by}")
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def beeswarm(result: Importance, *, top: int = 15) -> bytes | None:
    """SHAP value of each sampled row per feature, coloured by the feature value's rank (low→high)."""
    if result.values is None:
        return None
    names = result.table.head(top).get_column("name").to_list()
    fig = _figure(height=_bar_height(len(names)) + 0.4)
    ax = fig.add_subplot()
    rng = np.random.default_rng(0)  # jitter only: the same picture every time
    points = None
    for i, name in enumerate(names):
        rows = result.values.filter(pl.col("name") == name)
        shap = rows.get_column("shap").to_numpy()
        rank = rows.get_column("value_rank").to_numpy()
        jitter = rng.uniform(-0.3, 0.3, size=shap.size)
        known = np.isfinite(rank)
        ax.scatter(shap[~known], i + jitter[~known], s=3, color="#bbbbbb", linewidths=0)
        points = ax.scatter(
            shap[known], i + jitter[known], s=3, c=rank[known], cmap="coolwarm", vmin=0, vmax=1,
            linewidths=0,
        )  # fmt: skip
    ax.set_yticks(np.arange(len(names)), [_text(n) for n in names], fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0.0, color="#555555", linewidth=0.8)
    ax.set_xlabel("SHAP value (push on the log-odds); grey: missing value")
    ax.set_title("SHAP values of sampled out-of-fold rows")
    if points is not None:
        bar = fig.colorbar(points, ax=ax, fraction=0.04, pad=0.01, ticks=[0, 1])
        bar.ax.set_yticklabels(["low", "high"], fontsize=7)
        bar.set_label("feature value", fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)
