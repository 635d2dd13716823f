"""The CLI's tables of a run's comparison with the baselines (printed with Rich).

Kept out of `cli.py`, which stays a thin layer of commands.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console

__all__ = ["print_comparisons", "result_table"]


def result_table(title: str) -> Any:
    """A results table that fits an 80-column terminal: no vertical rules or edges.

    Its columns should be ``no_wrap``, so a name or figure is never cut to "…".
    """
    from rich import box
    from rich.table import Table

    return Table(
        title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False
    )


def print_comparisons(console: Console, metrics: dict[str, Any]) -> None:
    """basketcast minus each baseline (paired intervals), and the next-basket metrics."""
    paired = metrics.get("paired") or []
    if paired:
        first = paired[0]
        table = result_table(
            f"{first['method']} minus each baseline, per order "
            f"({first['orders']}, paired bootstrap 95 %)"
        )
        for name in ("baseline", "mean difference", "95 % interval"):
            table.add_column(name, justify="left" if name == "baseline" else "right", no_wrap=True)
        for row in paired:
            table.add_row(
                row["baseline"].removeprefix("baseline: "), f"{row['mean_diff']:+.4f}",
                f"{row['ci_low']:+.4f} – {row['ci_high']:+.4f}",
            )  # fmt: skip
        console.print(table)
        console.print()
    nbr = metrics.get("nbr_metrics") or []

    def fmt(value: Any) -> str:
        return "–" if value is None else f"{value:.4f}"

    # One table per set of orders: without an "orders" column the nine figures fit 80 columns.
    for orders in dict.fromkeys(row["orders"] for row in nbr):
        table = result_table(
            f"next-basket metrics, {orders} (repeat / explore items, Li et al. 2023)"
        )
        table.add_column("method", no_wrap=True)
        for name in ("n", "recall@10", "rep", "expl", "NDCG@10", "rep ", "expl "):
            table.add_column(name, justify="right", no_wrap=True)
        for row in (r for r in nbr if r["orders"] == orders):
            table.add_row(
                row["method"], f"{row['n']:,}",
                *(fmt(row[f"{m}_{part}@10"]) for m in ("recall", "ndcg") for part in ("all", "rep", "expl")),
            )  # fmt: skip
        console.print(table)
        console.print()
    for note in sorted({n for row in nbr for n in row.get("note", "").split("; ") if n}):
        console.print(f"note: {note}", highlight=False)
    for row in metrics.get("paired_nbr") or []:
        console.print(
            f"basketcast {row['metric']} minus {row['baseline']} ({row['orders']}): "
            f"{row['mean_diff']:+.4f} ({row['ci_low']:+.4f} – {row['ci_high']:+.4f}, paired 95 %)",
            highlight=False,
        )
