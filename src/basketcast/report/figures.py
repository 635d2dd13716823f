"""One function per report figure; each returns PNG bytes.

Figures use Matplotlib's object-oriented API with the Agg canvas, never
pyplot, so nothing touches global state, no GUI backend is ever chosen and no
figure is left open.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence

import numpy as np
import polars as pl
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from basketcast._meter import StageRecord

__all__ = [
    "basket_sizes",
    "calibration",
    "days_since_prior",
    "department_reorder",
    "importance",
    "order_heatmap",
    "orders_per_user",
    "stages",
    "top_products",
]

WIDTH_IN = 7.0
HEIGHT_IN = 3.5
DPI = 90
_COLOR = "#3b6ea5"
_ACCENT = "#d1603d"
_DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")


def _figure(*, height: float = HEIGHT_IN) -> Figure:
    fig = Figure(figsize=(WIDTH_IN, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # Product names come from the user's data; a glyph that DejaVu lacks is
        # drawn as a box, which is no reason to warn (or fail a strict test run).
        warnings.filterwarnings("ignore", message="Glyph .* missing from", category=UserWarning)
        fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _text(label: object, *, width: int = 42) -> str:
    """A data-borne label made safe for Matplotlib: no mathtext, bounded length."""
    text = str(label)
    if len(text) > width:
        text = text[: width - 1] + "…"
    # A pair of `$` in a product name would otherwise be parsed as mathtext.
    return text.replace("$", r"\$")


def _bar_height(n: int) -> float:
    """Figure height for `n` horizontal bars: labels never overlap, few bars stay slim."""
    return max(2.2, 0.9 + 0.19 * n)


def _integer_axes(ax: Axes) -> None:
    """Counts of orders or products: no tick at 2.5 orders."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))


def _counts_histogram(
    frame: pl.DataFrame, x: str, count: str, *, width: float, xlabel: str, title: str
) -> bytes:
    """Bars of precomputed counts: column ``count`` against integer column ``x``."""
    fig = _figure()
    ax = fig.add_subplot()
    ax.bar(
        frame.get_column(x).to_numpy(),
        frame.get_column(count).to_numpy(),
        width=width,
        color=_COLOR,
    )
    _integer_axes(ax)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(count)
    ax.set_title(title)
    return _png(fig)


def orders_per_user(frame: pl.DataFrame) -> bytes:
    """Histogram of orders per user, from ``orders`` / ``users`` counts."""
    return _counts_histogram(
        frame,
        "orders",
        "users",
        width=1.0,
        xlabel="orders per user (target order included)",
        title="Orders per user",
    )


def order_heatmap(frame: pl.DataFrame) -> bytes:
    """Orders by day of week × hour of day, from ``order_dow`` / ``order_hour_of_day`` / ``orders``."""
    grid = np.zeros((7, 24))
    dow = frame.get_column("order_dow").to_numpy().astype(int)
    hour = frame.get_column("order_hour_of_day").to_numpy().astype(int)
    keep = (dow >= 0) & (dow < 7) & (hour >= 0) & (hour < 24)
    np.add.at(grid, (dow[keep], hour[keep]), frame.get_column("orders").to_numpy()[keep])
    fig = _figure()
    ax = fig.add_subplot()
    image = ax.imshow(grid, aspect="auto", cmap="viridis", interpolation="nearest")
    ax.set_yticks(range(7), [f"{d} {name}" for d, name in enumerate(_DAYS)])
    ax.set_xticks(range(0, 24, 2))
    ax.set_xlabel("hour of day")
    ax.set_ylabel("order_dow (0 = Sunday, by convention)")
    ax.set_title("Orders by day of week and hour")
    fig.colorbar(image, ax=ax, label="orders")
    return _png(fig)


def days_since_prior(frame: pl.DataFrame) -> bytes:
    """Histogram of days since the prior order, from ``days`` / ``orders`` counts."""
    return _counts_histogram(
        frame,
        "days",
        "orders",
        width=0.9,
        xlabel="days since prior order (first orders excluded)",
        title="Days since prior order",
    )


def _hbars(
    labels: Sequence[object],
    values: np.ndarray,
    *,
    title: str,
    xlabel: str,
    color: str = _COLOR,
    fmt: str = "{:,.0f}",
) -> bytes:
    """Horizontal bars, largest first at the top, each annotated with its value."""
    n = len(labels)
    fig = _figure(height=_bar_height(n))
    ax = fig.add_subplot()
    y = np.arange(n)
    ax.barh(y, values, color=color)
    ax.set_yticks(y, [_text(label) for label in labels], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    top = float(np.max(values)) if n else 0.0
    for yi, v in zip(y, values, strict=True):
        ax.text(float(v) + 0.01 * top, float(yi), fmt.format(v), va="center", fontsize=7)
    ax.set_xlim(0, top * 1.15 if top > 0 else 1)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def top_products(frame: pl.DataFrame, *, by: str, title: str) -> bytes:
    """Top products as horizontal bars of column `by`, labelled by ``label``."""
    return _hbars(
        frame.get_column("label").to_list(),
        frame.get_column(by).to_numpy(),
        title=title,
        xlabel=by,
    )


def department_reorder(frame: pl.DataFrame) -> bytes:
    """Reorder ratio per department (``department``, ``reorder_ratio``)."""
    return _hbars(
        frame.get_column("department").to_list(),
        frame.get_column("reorder_ratio").to_numpy(),
        title="Reorder ratio by department (from history)",
        xlabel="share of lines bought before by the same user",
        fmt="{:.2f}",
    )


def importance(frame: pl.DataFrame) -> bytes:
    """Mean gain share per feature (``feature``, ``share``), already sorted and cut."""
    return _hbars(
        frame.get_column("feature").to_list(),
        100 * frame.get_column("share").to_numpy(),
        title="Gain importance, mean over folds",
        xlabel="share of total gain (%)",
        fmt="{:.1f}",
    )


def calibration(frame: pl.DataFrame) -> bytes:
    """Reliability plot: observed rate against mean predicted probability per bin, with the diagonal."""
    p = frame.get_column("p_mean").to_numpy()
    y = frame.get_column("y_mean").to_numpy()
    n = frame.get_column("n").to_numpy().astype(float)
    fig = _figure(height=4.2)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="perfect calibration")
    sizes = 15 + 85 * (n / n.max() if n.size and n.max() > 0 else n)
    ax.plot(p, y, color=_COLOR, linewidth=1.2)
    ax.scatter(p, y, s=sizes, color=_COLOR, zorder=3, label="bins (area ∝ pairs)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed reorder rate")
    ax.set_title("Calibration (out of fold)")
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    ax.set_aspect("equal")
    return _png(fig)


def basket_sizes(sizes: pl.Series) -> bytes:
    """Bars of how many products each chosen basket holds (0 = the None-only basket)."""
    counts = sizes.rename("size").drop_nulls().cast(pl.Int64).value_counts().sort("size")
    x = counts.get_column("size").to_numpy()
    c = counts.get_column("count").to_numpy()
    fig = _figure()
    ax = fig.add_subplot()
    colors = [_ACCENT if xi == 0 else _COLOR for xi in x]
    ax.bar(x, c, width=0.85, color=colors)
    _integer_axes(ax)
    ax.set_xlabel("products chosen per order (0 = None only)")
    ax.set_ylabel("orders")
    ax.set_title("Chosen basket sizes")
    return _png(fig)


def stages(records: Sequence[StageRecord]) -> bytes:
    """Seconds and peak resident memory per stage, side by side."""
    names = [_text(r.name, width=24) + (" (cached)" if r.cached else "") for r in records]
    seconds = np.array([r.seconds for r in records], dtype=float)
    rss = np.array([r.peak_rss_mb for r in records], dtype=float)
    fig = _figure(height=_bar_height(len(records)))
    left, right = fig.subplots(1, 2, sharey=True)
    y = np.arange(len(records))
    left.barh(y, seconds, color=_COLOR)
    left.set_yticks(y, names, fontsize=8)
    left.invert_yaxis()
    left.set_xlabel("seconds")
    left.set_title("Time per stage")
    right.barh(y, rss, color=_ACCENT)
    right.set_xlabel("peak RSS (MB)")
    right.set_title("Peak memory per stage")
    for ax in (left, right):
        ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)
