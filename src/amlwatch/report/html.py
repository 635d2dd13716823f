"""Assemble `report.html`: the evaluation table, PR curves, typology recall, alert volume, rings."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from amlwatch.evaluate import summary_columns
from amlwatch.io import write_text

if TYPE_CHECKING:
    from amlwatch.data.ledger import Ledger
    from amlwatch.pipeline import RunResult

__all__ = ["pick_ring", "write_report"]

_COUNTS = ("tp", "fp", "fn")
_BUDGETS = ("recall_at_10_per_10k", "recall_at_50_per_10k")


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


TOP_ALERTS = 10
"""Alerts listed per detector in the report."""


def _table(frame: pl.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    body = []
    for row in frame.iter_rows():
        cells = []
        for v in row:
            text = (
                f"{v:,.2f}"
                if isinstance(v, float) and abs(v) >= 1000
                else (f"{v:.4g}" if isinstance(v, float) else str(v))
            )
            cells.append(f"<td>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def pick_ring(result: RunResult, ledger: Ledger, typology: str) -> tuple[pl.DataFrame, bool] | None:
    """The test-period ring of `typology` with the most alerted legs (any detector), as edges.

    Without one in the test period, the first such ring of the whole ledger (not scored);
    the flag says whether the ring is from the test period.
    """
    test = result.test_frame
    legs = test.filter(pl.col("typology") == typology)
    in_test = legs.height > 0
    if not in_test:
        legs = ledger.transactions.filter(pl.col("typology") == typology)
    if legs.height == 0:
        return None
    alerted = set(result.alerts.get_column("txn_id").to_list()) if result.alerts.height else set()
    legs = legs.with_columns(pl.col("txn_id").is_in(list(alerted)).alias("detected"))
    best = (
        legs.group_by("ring_id")
        .agg(pl.col("detected").sum().alias("hits"), pl.len().alias("n"))
        .sort(["hits", "n", "ring_id"], descending=[True, True, False])
        .row(0, named=True)
    )
    # Draw every leg of the ring (earlier legs may fall before the test period: never alerted).
    whole = ledger.transactions.filter(pl.col("ring_id") == best["ring_id"])
    edges = whole.with_columns(pl.col("txn_id").is_in(list(alerted)).alias("detected")).select(
        "src", "dst", "timestamp", "amount_paid", "payment_currency", "detected"
    )
    return edges, in_test


def write_report(result: RunResult, ledger: Ledger, path: str | Path) -> Path:
    """Write the self-contained HTML report for a run."""
    from amlwatch.report import figures

    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>amlwatch run</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
        "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:3px 6px}</style>",
        "</head><body><h1>amlwatch run</h1>",
        f"<p>{ledger.n_transactions:,} transactions, {ledger.n_accounts:,} accounts, source "
        f"{html.escape(ledger.source or 'in memory')}. Thresholds chosen on the validation period "
        "(the 20 % after the first 60 % by time); every figure below is on the test period (the last 20 %).</p>",
    ]
    if result.table is not None:
        cols: list[str] = []
        for c in summary_columns(result.table.columns):  # by name: no position is assumed
            cols += [c, *_COUNTS] if c == "detector" else [c, "fallout"] if c == "recall" else [c]
        wanted = [*cols, *_BUDGETS, "rings", "rings_found"]
        shown = result.table.select([c for c in wanted if c in result.table.columns])
        parts += ["<h2>Evaluation (test period)</h2>", _table(shown)]
        labels = result.test_frame.get_column("is_laundering").fill_null(0).to_numpy()
        parts += [
            "<h2>Precision-recall</h2>",
            _img(figures.pr_curves(result.test_scores, labels), "PR curves"),
        ]
        parts += [
            "<h2>Recall per typology</h2>",
            _img(figures.recall_per_typology(result.table), "recall per typology"),
        ]
    if result.rule_hits:
        rows = pl.DataFrame(
            {"rule": list(result.rule_hits), "hits (test period)": list(result.rule_hits.values())}
        )
        parts += ["<h2>Rule hits</h2>", _table(rows)]
    parts += [
        "<h2>Alert volume</h2>",
        _img(figures.alerts_per_day(result.alerts), "alerts per day"),
    ]
    for typology, title in (
        ("gather_scatter", "A gather-scatter ring"),
        ("scatter_gather", "A scatter-gather pair"),
    ):
        picked = pick_ring(result, ledger, typology)
        if picked is not None:
            ring, in_test = picked
            note = "" if in_test else " (none in the test period: one from earlier, not scored)"
            parts += [
                f"<h2>{title}{note}</h2>",
                _img(figures.ring_drawing(ring, title=title), title),
            ]
    if result.alerts.height:
        # Scores are on each detector's own scale: rank within a detector, never across.
        parts.append(
            f"<h2>Top alerts with reasons</h2><p>The {TOP_ALERTS} highest-scoring test-period "
            "alerts of each detector (all of them are in <code>alerts.parquet</code>).</p>"
        )
        for name in result.alerts.get_column("detector").unique(maintain_order=True):
            top = (
                result.alerts.filter(pl.col("detector") == name)
                .sort("score", descending=True)
                .head(TOP_ALERTS)
                .drop("detector")
                .with_columns(pl.col("score").round(4), pl.col("amount_paid").round(2))
            )
            mine = result.alerts.filter(pl.col("detector") == name)
            cases = mine.get_column("case_id").n_unique() if "case_id" in mine.columns else 0
            summary = (
                f"<p>{mine.height:,} alerts in {cases:,} cases (alerts linked by a shared "
                f"account, at most {result.case_window_days:g} days apart).</p>"
            )
            parts += [f"<h3>{html.escape(name)}</h3>", summary, _table(top)]
    if result.warnings:
        parts += [
            "<h2>Warnings</h2><ul>",
            *(f"<li>{html.escape(w)}</li>" for w in result.warnings),
            "</ul>",
        ]
    parts.append("</body></html>")
    return write_text(path, "\n".join(parts))
