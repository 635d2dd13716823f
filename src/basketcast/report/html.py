"""Assemble one self-contained HTML report: inline CSS, figures as base64 PNG, no scripts.

The file opens from disk in any browser, offline: nothing is fetched. All text
that comes from data, configuration or callers goes through `html.escape`,
and the document is written as ASCII with character references so that it
reads the same whatever the platform's default encoding.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from basketcast import __version__
from basketcast._meter import StageRecord
from basketcast.data.dataset import Dataset
from basketcast.io import write_text
from basketcast.report import figures
from basketcast.report.evaluation import comparison_html
from basketcast.report.explore import Exploration, explore

__all__ = ["ReportInputs", "mean_gain", "render_report", "write_report"]

TOP_PRODUCTS = 20
TOP_FEATURES = 30


@dataclass(frozen=True, eq=False)
class ReportInputs:
    """What a run knows beyond the data; everything but `title` may be left out.

    Attributes
    ----------
    title
        The report's heading.
    summary
        Key facts shown at the top, as (label, value) pairs (run id, config hash...).
    f1_table
        ``method, orders, mean_f1, ci_low, ci_high``: out-of-fold F1 per method.
    fold_metrics
        ``model ("item"/"none"), fold, n_train, n_valid, best_iteration, logloss, auc, seconds``.
    importance
        ``feature, fold, gain``: gain importance per fold.
    calibration
        ``p_mean, y_mean, n``: one row per probability bin.
    basket_sizes
        Products chosen per order (None-only baskets are 0).
    stages
        Time and peak memory of each pipeline stage.
    config_toml
        The resolved configuration, shown verbatim.
    notes
        Free-text remarks, one paragraph each.
    paired, nbr_metrics, paired_nbr
        The ``paired``, ``nbr_metrics`` and ``paired_nbr`` rows of metrics.json (see
        `basketcast.report.evaluation`).
    """

    title: str
    summary: list[tuple[str, str]] = field(default_factory=list)
    f1_table: pl.DataFrame | None = None
    fold_metrics: pl.DataFrame | None = None
    importance: pl.DataFrame | None = None
    calibration: pl.DataFrame | None = None
    basket_sizes: pl.Series | None = None
    stages: list[StageRecord] = field(default_factory=list)
    config_toml: str | None = None
    notes: list[str] = field(default_factory=list)
    paired: list[dict[str, Any]] = field(default_factory=list)
    nbr_metrics: list[dict[str, Any]] = field(default_factory=list)
    paired_nbr: list[dict[str, Any]] = field(default_factory=list)

    @property
    def has_model(self) -> bool:
        return any(
            x is not None
            for x in (
                self.f1_table,
                self.fold_metrics,
                self.importance,
                self.calibration,
                self.basket_sizes,
            )
        ) or bool(self.stages)


def write_report(path: str | Path, *, dataset: Dataset, inputs: ReportInputs) -> Path:
    """Write the HTML report for `dataset` and `inputs` to `path`, atomically.

    Returns
    -------
    Path
        `path`, once the complete file is in place.
    """
    return write_text(path, render_report(dataset=dataset, inputs=inputs))


def render_report(*, dataset: Dataset, inputs: ReportInputs) -> str:
    """The report as one HTML document (ASCII, non-ASCII text as character references)."""
    parts = [
        _head(inputs.title),
        f"<h1>{_e(inputs.title)}</h1>",
        f'<p class="muted">basketcast {_e(__version__)}</p>',
    ]
    if inputs.summary:
        parts.append(_kv_table(inputs.summary))
    parts.append(
        '<nav><a href="#exploration">1. Exploration</a> &middot; '
        '<a href="#model">2. The model</a> &middot; '
        '<a href="#configuration">3. Configuration and notes</a></nav>'
    )
    parts.append(_exploration_section(dataset, explore(dataset)))
    parts.append(_model_section(inputs))
    parts.append(_configuration_section(inputs))
    parts.append("</main></body></html>\n")
    # ASCII with character references: the file is identical on every platform
    # whatever the locale's encoding, and `write_text` needs no encoding argument.
    return "\n".join(parts).encode("ascii", "xmlcharrefreplace").decode("ascii")


# --- sections -------------------------------------------------------------------------


def _exploration_section(dataset: Dataset, ex: Exploration) -> str:
    out = ['<section id="exploration"><h2>1. Exploration</h2>']
    out.append("<h3>Data at a glance</h3>")
    out.append(_kv_table(ex.facts))
    if dataset.warnings:
        out.append("<p><strong>Data warnings</strong></p>")
        out.append(_list(dataset.warnings))
    out.append("<h3>Orders per user</h3>")
    out.append(_img(figures.orders_per_user(ex.orders_per_user), "Histogram of orders per user"))
    out.append("<h3>Orders by day of week and hour</h3>")
    out.append(_img(figures.order_heatmap(ex.dow_hour), "Heatmap of orders by day and hour"))
    out.append("<h3>Days since prior order</h3>")
    out.append(
        _img(figures.days_since_prior(ex.days_since_prior), "Histogram of days since prior order")
    )
    out.append("<h3>Most popular products</h3>")
    if ex.products.is_empty():
        out.append(_muted("No order lines."))
    else:
        for by, what in (("orders", "orders"), ("customers", "distinct customers")):
            top = ex.top_products(by=by, n=TOP_PRODUCTS)
            title = f"Top {top.height} products by {what}"
            out.append(_img(figures.top_products(top, by=by, title=title), title))
        table = (
            ex.top_products(by="orders", n=TOP_PRODUCTS)
            .with_columns((pl.col("reorders") / pl.col("orders")).alias("reorder_ratio"))
            .select(
                "product_id",
                pl.col("label").alias("product"),
                "orders",
                "customers",
                "reorder_ratio",
            )
        )
        out.append(
            _table(
                table,
                {
                    "product_id": "{}",
                    "orders": "{:,}",
                    "customers": "{:,}",
                    "reorder_ratio": "{:.3f}",
                },
            )
        )
    out.append("<h3>Reorder ratio by department</h3>")
    if ex.departments is None:
        out.append(
            _muted("Skipped: the data has no products table to map products to departments.")
        )
    elif ex.departments.is_empty():
        out.append(_muted("No order lines."))
    else:
        out.append(
            _muted(
                "A line is a reorder when the same user bought the product in an earlier order "
                "(computed from the history, not from the reordered column)."
            )
        )
        out.append(_img(figures.department_reorder(ex.departments), "Reorder ratio by department"))
        out.append(
            _table(
                ex.departments,
                {"lines": "{:,}", "reorders": "{:,}", "reorder_ratio": "{:.3f}"},
            )
        )
    out.append("</section>")
    return "\n".join(out)


def _model_section(inputs: ReportInputs) -> str:
    out = ['<section id="model"><h2>2. The model</h2>']
    if not inputs.has_model:
        out.append(_muted("No model results: this report describes the data only."))
    if inputs.fold_metrics is not None:
        out.append("<h3>Per-fold metrics</h3>")
        out.append(_fold_table(inputs.fold_metrics))
    if inputs.f1_table is not None:
        out.append("<h3>Out-of-fold F1</h3>")
        out.append(
            _muted(
                "Mean F1 per order with the Kaggle rule (None as a token), "
                "with a 95 % confidence interval."
            )
        )
        out.append(_f1_table(inputs.f1_table))
    if inputs.paired or inputs.nbr_metrics:
        out.append(comparison_html(inputs.paired, inputs.nbr_metrics, inputs.paired_nbr))
    if inputs.importance is not None:
        out.append("<h3>Feature importance</h3>")
        out.append(_importance(inputs.importance))
    if inputs.calibration is not None:
        out.append("<h3>Calibration</h3>")
        out.append(_calibration(inputs.calibration))
    if inputs.basket_sizes is not None:
        out.append("<h3>Chosen basket sizes</h3>")
        out.append(_basket_sizes(inputs.basket_sizes))
    if inputs.stages:
        out.append("<h3>Time and memory per stage</h3>")
        out.append(_stages(inputs.stages))
    out.append("</section>")
    return "\n".join(out)


def _configuration_section(inputs: ReportInputs) -> str:
    out = ['<section id="configuration"><h2>3. Configuration and notes</h2>']
    out.append("<h3>Resolved configuration</h3>")
    if inputs.config_toml is None:
        out.append(_muted("No configuration given."))
    else:
        out.append(f"<pre>{_e(inputs.config_toml)}</pre>")
    out.append("<h3>Notes</h3>")
    out.append(
        "\n".join(f"<p>{_e(n)}</p>" for n in inputs.notes) if inputs.notes else _muted("None.")
    )
    out.append("</section>")
    return "\n".join(out)


# --- model pieces ---------------------------------------------------------------------

_FOLD_FORMATS = {
    "n_train": "{:,}",
    "n_valid": "{:,}",
    "best_iteration": "{:,}",
    "logloss": "{:.4f}",
    "auc": "{:.4f}",
    "seconds": "{:.1f}",
}


def _fold_table(frame: pl.DataFrame) -> str:
    columns = [
        c
        for c in (
            "model",
            "fold",
            "n_train",
            "n_valid",
            "best_iteration",
            "logloss",
            "auc",
            "seconds",
        )
        if c in frame.columns
    ]
    rows = frame.select(columns).sort("model", "fold")
    means = rows.group_by("model", maintain_order=True).agg(
        pl.lit("mean").alias("fold"),
        *(pl.col(c).mean() for c in columns if c in ("logloss", "auc", "seconds")),
    )
    body: list[str] = []
    for model in rows.get_column("model").unique(maintain_order=True).to_list():
        for row in rows.filter(pl.col("model") == model).iter_rows(named=True):
            body.append(_row(row, columns, _FOLD_FORMATS))
        mean = means.filter(pl.col("model") == model).row(0, named=True)
        body.append(_row(mean, columns, _FOLD_FORMATS, cls="total"))
    return _table_html(columns, body, numeric=set(_FOLD_FORMATS))


def _f1_table(frame: pl.DataFrame) -> str:
    best = frame.get_column("mean_f1").max() if frame.height else None
    columns = ["method", "orders", "mean F1", "95 % interval"]
    body = []
    for row in frame.iter_rows(named=True):
        cells = {
            "method": row["method"],
            "orders": row.get("orders"),
            "mean F1": row["mean_f1"],
            "95 % interval": _interval(row.get("ci_low"), row.get("ci_high")),
        }
        cls = "best" if best is not None and row["mean_f1"] == best else ""
        body.append(_row(cells, columns, {"orders": "{:,}", "mean F1": "{:.4f}"}, cls=cls))
    return _table_html(columns, body, numeric={"orders", "mean F1", "95 % interval"})


def _interval(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "–"
    return f"[{low:.4f}, {high:.4f}]"


def _feature_families() -> dict[str, tuple[str, str]]:
    """Feature column → (its family, its description), from the feature registry."""
    from basketcast.features.registry import REGISTRY

    return {c: (f.name, d) for f in REGISTRY for c, d in f.columns.items()}


def mean_gain(importance: pl.DataFrame) -> pl.DataFrame:
    """Gain per feature averaged over folds, largest first.

    Parameters
    ----------
    importance
        ``feature, fold, gain``, one row per feature a fold's model used.

    Returns
    -------
    pl.DataFrame
        ``feature, gain`` (mean over every fold), ``share`` (of the summed mean gain).
    """
    n_folds = max(importance.get_column("fold").n_unique(), 1)
    # XGBoost omits the features a fold never split on: their gain there is 0,
    # so divide by the number of folds, not by the rows a feature happens to have.
    return (
        importance.group_by("feature")
        .agg((pl.col("gain").sum() / n_folds).alias("gain"))
        .with_columns((pl.col("gain") / pl.col("gain").sum()).alias("share"))
        .sort(["gain", "feature"], descending=[True, False])
    )


def _importance(frame: pl.DataFrame) -> str:
    n_folds = frame.get_column("fold").n_unique()
    mean = mean_gain(frame)
    top = mean.head(TOP_FEATURES)
    if top.is_empty():
        return _muted("No importance recorded.")
    families = _feature_families()
    out = [
        _muted(
            f"Gain per feature averaged over {n_folds} fold(s), as a share of the total; "
            f"top {top.height} of {mean.height}."
        ),
        _img(figures.importance(top), "Gain importance"),
    ]
    table = top.with_row_index("rank", offset=1).with_columns(
        (100 * pl.col("share")).alias("share %"),
        pl.col("feature")
        .map_elements(lambda f: families.get(f, ("", ""))[0], return_dtype=pl.String)
        .alias("family"),
        pl.col("feature")
        .map_elements(lambda f: families.get(f, ("", ""))[1], return_dtype=pl.String)
        .alias("description"),
    )
    out.append(
        _table(
            table.select("rank", "feature", "family", "share %", "gain", "description"),
            {"share %": "{:.2f}", "gain": "{:,.1f}"},
        )
    )
    return "\n".join(out)


def _calibration(frame: pl.DataFrame) -> str:
    # Empty bins have no mean to plot.
    frame = frame.drop_nulls(["p_mean", "y_mean", "n"]).filter(pl.col("n") > 0)
    if frame.is_empty():
        return _muted("No calibration bins.")
    n = frame.get_column("n").to_numpy().astype(float)
    gap = np.abs(frame.get_column("p_mean").to_numpy() - frame.get_column("y_mean").to_numpy())
    ece = float(np.dot(gap, n) / n.sum())
    text = _muted(
        f"Expected calibration error (mean |predicted - observed|, weighted by pairs): "
        f"{ece:.4f} over {int(n.sum()):,} pairs in {frame.height} bins."
    )
    return text + "\n" + _img(figures.calibration(frame), "Reliability plot")


def _basket_sizes(sizes: pl.Series) -> str:
    sizes = sizes.drop_nulls()
    if sizes.is_empty():
        return _muted("No baskets.")
    values = sizes.to_numpy()
    mean = float(values.mean())
    none_only = float((values == 0).mean())
    text = _muted(
        f"{sizes.len():,} orders; mean {mean:.2f} products per basket; "
        f"{100 * none_only:.1f} % are None only."
    )
    return text + "\n" + _img(figures.basket_sizes(sizes), "Distribution of chosen basket sizes")


def _stages(records: Sequence[StageRecord]) -> str:
    columns = ["stage", "seconds", "peak RSS (MB)", "cached"]
    formats = {"seconds": "{:,.2f}", "peak RSS (MB)": "{:,.0f}"}
    body = [
        _row(
            {
                "stage": r.name,
                "seconds": r.seconds,
                "peak RSS (MB)": r.peak_rss_mb,
                "cached": "yes" if r.cached else "",
            },
            columns,
            formats,
        )
        for r in records
    ]
    total = {
        "stage": "total",
        "seconds": sum(r.seconds for r in records),
        "peak RSS (MB)": max(r.peak_rss_mb for r in records),
        "cached": "",
    }
    body.append(_row(total, columns, formats, cls="total"))
    table = _table_html(columns, body, numeric=set(formats))
    return table + "\n" + _img(figures.stages(records), "Time and peak memory per stage")


# --- HTML helpers ---------------------------------------------------------------------


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _muted(text: str) -> str:
    return f'<p class="muted">{_e(text)}</p>'


def _list(items: Sequence[str]) -> str:
    return "<ul>" + "".join(f"<li>{_e(i)}</li>" for i in items) + "</ul>"


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<figure><img alt="{_e(alt)}" src="data:image/png;base64,{data}"></figure>'


def _kv_table(pairs: Sequence[tuple[str, str]]) -> str:
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in pairs)
    return f'<table class="kv"><tbody>{rows}</tbody></table>'


def _cell(value: object, fmt: str | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if fmt is not None and isinstance(value, int | float) and not isinstance(value, bool):
        return fmt.format(value)
    return str(value)


def _row(
    row: Mapping[str, object], columns: Sequence[str], formats: dict[str, str], *, cls: str = ""
) -> str:
    cells = "".join(
        f"<td{' class=num' if c in formats else ''}>{_e(_cell(row.get(c), formats.get(c)))}</td>"
        for c in columns
    )
    return f'<tr class="{cls}">{cells}</tr>' if cls else f"<tr>{cells}</tr>"


def _table_html(columns: Sequence[str], body: Sequence[str], *, numeric: set[str]) -> str:
    head = "".join(f"<th{' class=num' if c in numeric else ''}>{_e(c)}</th>" for c in columns)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _table(frame: pl.DataFrame, formats: dict[str, str]) -> str:
    """A DataFrame as a table; numeric columns right-aligned and formatted."""
    numeric = {c for c, dtype in frame.schema.items() if dtype.is_numeric()}
    fmts = {c: formats.get(c, "{}") for c in numeric}
    body = [_row(row, frame.columns, fmts) for row in frame.iter_rows(named=True)]
    return _table_html(frame.columns, body, numeric=numeric)


_CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;
background:#fff;margin:0}
main{max-width:1000px;margin:0 auto;padding:1.5rem 2rem 4rem}
h1{font-size:1.7rem;margin:.5rem 0 .2rem}
h2{font-size:1.35rem;border-bottom:2px solid #3b6ea5;padding-bottom:.2rem;margin-top:2.5rem}
h3{font-size:1.08rem;margin:1.6rem 0 .4rem}
nav{margin:1rem 0;padding:.5rem .8rem;background:#f3f5f8;border-radius:6px}
a{color:#3b6ea5}
.muted{color:#5a6270;font-size:.92rem;margin:.3rem 0}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.88rem}
th,td{padding:.25rem .6rem;border-bottom:1px solid #e1e4e8;text-align:left;vertical-align:top}
thead th{border-bottom:2px solid #c8ccd1;background:#f6f8fa}
.num{text-align:right;font-variant-numeric:tabular-nums}
table.kv th{font-weight:600;color:#444;padding-right:1.5rem}
tr.total td{font-weight:600;background:#fafbfc}
tr.best td{font-weight:600;background:#eef6ee}
figure{margin:.5rem 0 1rem}
img{max-width:100%;height:auto;display:block}
pre{background:#f6f8fa;border:1px solid #e1e4e8;border-radius:6px;padding:.8rem;
overflow-x:auto;font-size:.82rem}
"""


def _head(title: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>"
    )
