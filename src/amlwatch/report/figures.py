"""Report figures (Matplotlib, PNG bytes): PR curves, recall per typology, alerts per day, rings."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import polars as pl

__all__ = ["alerts_per_day", "pr_curves", "recall_per_typology", "ring_drawing"]


def _png(fig: plt.Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def pr_curves(scores: dict[str, np.ndarray], labels: np.ndarray) -> bytes:
    """Precision-recall curves of every detector on the test period."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    y = np.asarray(labels, dtype=bool)
    for name, s in scores.items():
        order = np.argsort(-s, kind="stable")
        tp = np.cumsum(y[order])
        k = np.arange(1, len(s) + 1)
        ax.plot(tp / max(y.sum(), 1), tp / k, label=name, lw=1.5)
    ax.axhline(y.mean(), color="grey", ls=":", lw=1, label=f"laundering rate {y.mean():.2%}")
    ax.set(
        xlabel="recall",
        ylabel="precision",
        title="Precision-recall, test period",
        xlim=(0, 1),
        ylim=(0, 1.02),
    )
    ax.legend(fontsize=8)
    return _png(fig)


def recall_per_typology(table: pl.DataFrame) -> bytes:
    """Grouped bars: recall per typology per detector (at the validation-chosen thresholds)."""
    cols = [c for c in table.columns if c.startswith("recall_") and "_per_10k" not in c]
    typ = [c.removeprefix("recall_") for c in cols]
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / max(table.height, 1)
    x = np.arange(len(cols))
    for i, row in enumerate(table.iter_rows(named=True)):
        ax.bar(x + i * width, [row[c] or 0.0 for c in cols], width, label=row["detector"])
    ax.set_xticks(x + 0.4 - width / 2, typ, rotation=30, ha="right")
    ax.set(ylabel="recall", ylim=(0, 1.05), title="Recall per typology, test period")
    ax.legend(fontsize=8)
    return _png(fig)


def alerts_per_day(alerts: pl.DataFrame) -> bytes:
    """Alerts raised per day by each detector over the test period (staffing load)."""
    fig, ax = plt.subplots(figsize=(8, 3.5))
    if alerts.height:
        daily = (
            alerts.with_columns(pl.col("timestamp").dt.date().alias("day"))
            .group_by("detector", "day")
            .len()
            .sort("day")
        )
        for name in daily.get_column("detector").unique(maintain_order=True):
            part = daily.filter(pl.col("detector") == name)
            ax.plot(
                part.get_column("day").to_list(),
                part.get_column("len").to_list(),
                marker=".",
                label=name,
            )
        ax.legend(fontsize=8)
    ax.set(ylabel="alerts", title="Alerts per day, test period")
    fig.autofmt_xdate()
    return _png(fig)


def ring_drawing(edges: pl.DataFrame, *, title: str) -> bytes:
    """One ring as a layered drawing: payers left, middle accounts, payees right.

    `edges` has src, dst, timestamp, amount_paid, payment_currency, detected (bool).
    Each arrow is labelled with its date and amount; detected legs are red.
    """
    src = edges.get_column("src").to_list()
    dst = edges.get_column("dst").to_list()
    nodes = list(dict.fromkeys(src + dst))
    has_in, has_out = set(dst), set(src)
    layer = {n: 0 if n not in has_in else (2 if n not in has_out else 1) for n in nodes}
    pos: dict[int, tuple[float, float]] = {}
    for lvl in (0, 1, 2):
        members = [n for n in nodes if layer[n] == lvl]
        for i, n in enumerate(members):
            pos[n] = (float(lvl), (i + 0.5) / max(len(members), 1))
    fig, ax = plt.subplots(figsize=(9, 5.5))
    for row in edges.iter_rows(named=True):
        (x0, y0), (x1, y1) = pos[row["src"]], pos[row["dst"]]
        color = "tab:red" if row["detected"] else "tab:gray"
        ax.annotate(
            "",
            xy=(x1, y1),
            xytext=(x0, y0),
            arrowprops={"arrowstyle": "->", "color": color, "lw": 1.2},
        )
        amount = row["amount_paid"]
        shown = f"{amount:,.0f}" if amount >= 100 else f"{amount:.4g}"
        label = f"{row['timestamp']:%m-%d %H:%M}\n{shown} {row['payment_currency']}"
        ax.text(
            (x0 + x1) / 2,
            (y0 + y1) / 2,
            label,
            fontsize=6,
            ha="center",
            va="center",
            bbox={"fc": "white", "ec": "none", "alpha": 0.7},
        )
    for n, (x, y) in pos.items():
        ax.plot(x, y, "o", ms=10, color="tab:blue")
        ax.text(x, y + 0.03, f"acct {n}", fontsize=7, ha="center")
    ax.set_xlim(-0.3, 2.3)
    ax.set_ylim(-0.05, 1.08)
    ax.axis("off")
    ax.set_title(f"{title} (red: alerted leg)")
    return _png(fig)
