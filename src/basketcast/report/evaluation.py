"""The report's comparison with the baselines: paired F1 differences and next-basket metrics.

Rendered from the ``paired`` and ``nbr_metrics`` entries of metrics.json
(`basketcast.evaluate.scoring.evaluate_run`), as HTML fragments for the model
section of the report.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["comparison_html"]

_KS = (10, 20)


def comparison_html(
    paired: Sequence[Mapping[str, Any]],
    nbr: Sequence[Mapping[str, Any]],
    paired_nbr: Sequence[Mapping[str, Any]] = (),
) -> str:
    """Headed tables: basketcast minus each baseline (F1), recall / NDCG split by item kind,
    and basketcast's repeat recall minus each baseline's."""
    out = []
    if paired:
        first = paired[0]
        out.append("<h3>basketcast against each baseline (paired)</h3>")
        out.append(
            _muted(
                f"Mean per-order F1 of {first['method']} minus the baseline's, on the "
                f"{first['orders']} orders (n={first['n']:,}), with a paired bootstrap 95 % "
                "interval (orders resampled, both methods' F1 of each drawn order kept). "
                "Baselines are tuned and calibrated on train orders."
            )
        )
        out.append(_paired_table(paired))
    if nbr:
        out.append("<h3>Next-basket metrics: recall and NDCG at 10 and 20</h3>")
        out.append(
            _muted(
                "Split into repeat items (bought by the user before) and explore items "
                "(never bought before), as in Li et al. 2023, 'A Next Basket Recommendation "
                "Reality Check'. Each figure is the mean over the orders where that part is "
                "not empty."
            )
        )
        out.append(_nbr_table(nbr))
        notes = sorted({n for row in nbr for n in str(row.get("note", "")).split("; ") if n})
        out.extend(_muted(f"Note: {n}.") for n in notes)
    if paired_nbr:
        out.append(f"<h4>basketcast's {_e(paired_nbr[0]['metric'])} minus each baseline's</h4>")
        out.append(_muted("Over the orders with repeat items; paired bootstrap 95 % interval."))
        body = [
            "<tr>"
            + _td(r["baseline"])
            + _td(r["orders"])
            + _num(f"{r['n']:,}")
            + _num(f"{r['mean_diff']:+.4f}")
            + _num(f"{r['ci_low']:+.4f} – {r['ci_high']:+.4f}")
            + "</tr>"
            for r in paired_nbr
        ]
        out.append(_table(["baseline", "orders", "n", "mean difference", "95 % interval"], body))
    return "\n".join(out)


def _paired_table(rows: Sequence[Mapping[str, Any]]) -> str:
    head = ["baseline", "mean difference", "95 % interval", "orders better", "orders worse"]
    body = []
    for r in rows:
        cells = [
            _td(r["baseline"]),
            _num(f"{r['mean_diff']:+.4f}"),
            _num(f"{r['ci_low']:+.4f} – {r['ci_high']:+.4f}"),
            _num(f"{r['wins']:,}"),
            _num(f"{r['losses']:,}"),
        ]
        cls = ' class="best"' if r["ci_low"] > 0 else ""
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return _table(head, body)


def _nbr_table(rows: Sequence[Mapping[str, Any]]) -> str:
    head = ["method", "orders", "n"]
    keys = []
    for k in _KS:
        for part, label in (("all", "all"), ("rep", "repeat"), ("expl", "explore")):
            head += [f"recall@{k} {label}", f"NDCG@{k} {label}"]
            keys += [f"recall_{part}@{k}", f"ndcg_{part}@{k}"]
    body = []
    for r in rows:
        cells = [_td(r["method"]), _td(r["orders"]), _num(f"{r['n']:,}")]
        cells += [_num(_fmt(r.get(key))) for key in keys]
        body.append(f"<tr>{''.join(cells)}</tr>")
    return _table(head, body)


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.4f}"


def _table(head: Sequence[str], body: Sequence[str]) -> str:
    cells = "".join(f"<th>{_e(h)}</th>" for h in head)
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _td(text: object) -> str:
    return f"<td>{_e(text)}</td>"


def _num(text: str) -> str:
    return f"<td class=num>{_e(text)}</td>"


def _e(text: object) -> str:
    return html.escape(str(text))


def _muted(text: str) -> str:
    return f'<p class="muted">{_e(text)}</p>'
