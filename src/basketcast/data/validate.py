"""Check the loaded tables and return a typed `Dataset`, or one `DataError` listing every problem.

Values are cast to the dtypes of `basketcast.data.schema` strictly: a value
that does not fit is a problem (file, column, row count, examples), never a
crash and never a silent null. Nothing is dropped, renumbered or "fixed".
Every rule runs on whatever columns could be read, so one pass reports all
that is wrong; rows whose value in a column is null or unreadable are left out
of the later rules on that column (they are reported once, as such).

Findings that are not errors are warnings, in `Dataset.warnings`: a
`reordered` column that disagrees with the history (labels are taken from the
history, never from that column), and users whose target order is their first
(their answer is ``None`` by definition, and that is what `run` and `predict`
give them).

The reading lives in `basketcast.data._typed`, the rules in
`basketcast.data._rules`, the warnings in `basketcast.data._history`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from basketcast.data._history import _history, _reordered_warnings, first_order_targets
from basketcast.data._rules import _CHECKS
from basketcast.data._typed import _Context, _read_typed
from basketcast.data.dataset import DataError, Dataset, Problem
from basketcast.data.schema import EVAL_SET, ORDERS, PRIOR, PRODUCTS, TABLES, TRAIN

__all__ = ["Summary", "summarize", "validate"]


def validate(
    tables: Mapping[str, pl.LazyFrame],
    *,
    source: str = "",
    files: Mapping[str, str] | None = None,
    paths: Mapping[str, Path] | None = None,
) -> Dataset:
    """Collect and check the tables; return them typed as a `Dataset`.

    Parameters
    ----------
    tables
        Table name (as in `basketcast.data.schema.TABLES`) → LazyFrame, as
        returned by `basketcast.data.load.load_tables`; columns may be text.
    source
        Where the tables came from (a folder), for the error message.
    files
        Table name → file name used in problems; defaults to the table name.
    paths
        Table name → file, when known: lets a problem say more (the first
        line that is not UTF-8).

    Returns
    -------
    Dataset
        The tables with the schema's columns and dtypes, in schema order (extra
        columns are left out); `warnings` holds findings that are not errors.

    Raises
    ------
    DataError
        Listing every problem found, with file, column, row count and examples.
    ValueError
        If `tables` names a table that is not in the layout.
    """
    unknown = sorted(set(tables) - set(TABLES))
    if unknown:
        raise ValueError(f"unknown table(s) {unknown}; expected names from {sorted(TABLES)}")
    names = {name: (files or {}).get(name, name) for name in TABLES}
    ctx = _Context(files=names, paths=dict(paths or {}))
    for name, table in TABLES.items():
        if name in tables:
            frame = _read_typed(ctx, tables[name], table)
            if frame is not None:
                ctx.frames[name] = frame
        elif table.required:
            ctx.problems.append(Problem(names[name], "", "required table missing"))
    for check in _CHECKS:
        check(ctx)
    if ctx.problems:
        raise DataError(ctx.problems, source=source)
    frames = ctx.frames
    return Dataset(
        orders=frames[ORDERS.name],
        prior=frames[PRIOR.name],
        train=frames[TRAIN.name],
        products=frames.get(PRODUCTS.name),
        aisles=frames.get("aisles"),
        departments=frames.get("departments"),
        warnings=tuple(
            _reordered_warnings(frames[ORDERS.name], frames[PRIOR.name], frames[TRAIN.name], names)
            + first_order_targets(frames[ORDERS.name], names)
        ),
    )


@dataclass(frozen=True)
class Summary:
    """Headline figures of a `Dataset` (what `basketcast describe` prints)."""

    users: int
    orders: dict[str, int]
    prior_lines: int
    train_lines: int
    products_bought: int
    products_listed: int | None
    mean_basket_size: float
    mean_orders_per_user: float
    prior_reorder_ratio: float | None = None
    train_orders_without_reorder: float | None = None
    warnings: tuple[str, ...] = field(default=())

    def rows(self) -> list[tuple[str, str]]:
        """(label, formatted value) pairs, in display order."""
        out = [
            ("users", f"{self.users:,}"),
            *((f"{name} orders", f"{n:,}") for name, n in self.orders.items()),
            ("prior lines", f"{self.prior_lines:,}"),
            ("train lines", f"{self.train_lines:,}"),
            ("products bought", f"{self.products_bought:,}"),
        ]
        if self.products_listed is not None:
            out.append(("products listed", f"{self.products_listed:,}"))
        out += [
            ("mean basket size", f"{self.mean_basket_size:.2f}"),
            ("mean orders per user", f"{self.mean_orders_per_user:.2f}"),
        ]
        if self.prior_reorder_ratio is not None:
            out.append(("reorder ratio of prior lines", f"{self.prior_reorder_ratio:.3f}"))
        if self.train_orders_without_reorder is not None:
            out.append(("train orders with no reorder", f"{self.train_orders_without_reorder:.3f}"))
        return out


def summarize(dataset: Dataset, *, history: bool = True) -> Summary:
    """Count users, orders and lines of a validated `Dataset`.

    Parameters
    ----------
    dataset
        A validated dataset.
    history
        Also compute the reorder figures. They come from the history (a line is a
        reorder when the user bought the product in an earlier order), not from the
        `reordered` column, and need a pass over all lines: skip them for a quick count.
    """
    orders = dataset.orders
    by_set = dict(orders.get_column("eval_set").cast(pl.String).value_counts().iter_rows())
    n_sets = {name: by_set.get(name, 0) for name in EVAL_SET.categories}
    users = dataset.n_users
    n_lines = dataset.prior.height + dataset.train.height
    n_baskets = n_sets["prior"] + n_sets["train"]
    products = pl.concat(
        [dataset.prior.get_column("product_id"), dataset.train.get_column("product_id")]
    )
    ratio = without = None
    if history:
        lines = _history(orders, dataset.prior, dataset.train)
        prior_stats, train_stats = pl.collect_all(
            [
                lines.filter(pl.col("file") == "prior").select(pl.col("repeat").mean()),
                lines.filter(pl.col("file") == "train")
                .group_by("order_id")
                .agg(pl.col("repeat").any())
                .select((~pl.col("repeat")).mean()),
            ]
        )
        ratio, without = prior_stats.item(), train_stats.item()
    return Summary(
        users=users,
        orders=n_sets,
        prior_lines=dataset.prior.height,
        train_lines=dataset.train.height,
        products_bought=products.n_unique(),
        products_listed=None if dataset.products is None else dataset.products.height,
        mean_basket_size=n_lines / n_baskets if n_baskets else 0.0,
        mean_orders_per_user=orders.height / users if users else 0.0,
        prior_reorder_ratio=ratio,
        train_orders_without_reorder=without,
        warnings=dataset.warnings,
    )
