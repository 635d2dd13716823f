"""The command line's shared parts: the one error boundary, consoles, progress and printing.

Kept apart from `basketcast.cli` (the commands) so that every command, and
every command added later, goes through the same boundary and prints the
same way. Nothing here imports Polars.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from typer.core import TyperGroup

from basketcast.data.dataset import DataError
from basketcast.errors import UsageError

__all__ = [
    "USER_ERRORS",
    "Boundary",
    "StageProgress",
    "console",
    "err_console",
    "friendly_errors",
    "print_conversion",
    "print_run",
    "print_version",
    "warn",
]

console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

USER_ERRORS = (DataError, UsageError, OSError)
"""Bad input, a bad request, or a file that cannot be read or written: exit 2, one message."""


def print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        console.print(f"basketcast {version('basketcast')}", highlight=False)
        raise typer.Exit()


def _message(exc: BaseException) -> str:
    """One readable reason; an OSError straight from the OS gets its file name and reason."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        verb = "cannot write" if exc.errno in _WRITE_ERRNOS else "cannot use"
        return f"{verb} {exc.filename}: {exc.strerror}"
    return str(exc)


_WRITE_ERRNOS = {28, 30, 122}  # ENOSPC, EROFS, EDQUOT


class Boundary(TyperGroup):
    """The one error boundary, around every command (sub-apps and commands added later included).

    `DataError`, `UsageError` (configuration and options) and `OSError`
    (missing, unreadable or unwritable files, a busy run folder) print one
    line on stderr and exit 2; anything else is a bug and keeps its
    traceback (exit code 1), so real bugs are not hidden behind "bad input".
    """

    def invoke(self, ctx: Any) -> Any:
        shown = warnings.showwarning
        warnings.showwarning = _show_warning  # library warnings as one "warning:" line each
        try:
            return super().invoke(ctx)
        except USER_ERRORS as exc:
            from rich.markup import escape

            text = _printable(_message(exc))
            err_console.print(
                f"[bold red]error:[/] {escape(text)}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(code=2) from None
        finally:
            warnings.showwarning = shown


def _show_warning(message: Warning | str, *args: Any, **kwargs: Any) -> None:
    warn(str(message))


def friendly_errors(func: F) -> F:
    """No-op, kept for commands written before the app-level boundary (`_App`) existed."""
    return func


def _printable(text: str) -> str:
    """Control bytes (from a file's header, say) shown escaped, never sent raw to the terminal."""
    return "".join(c if c in "\n\t" or c.isprintable() else repr(c)[1:-1] for c in text)


def warn(text: str) -> None:
    from rich.markup import escape

    err_console.print(
        f"[yellow]warning:[/] {escape(_printable(text))}", highlight=False, soft_wrap=True
    )


def print_conversion(summary: dict[str, Any], out: Path) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"wrote {escape(str(out))}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in summary.items():
        table.add_row(name, f"{value:,}" if isinstance(value, int) else escape(str(value)))
    console.print(table)


class StageProgress:
    """The one Rich progress display: a line per stage with its elapsed time."""

    def __init__(self) -> None:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=err_console,
        )
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> StageProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, stage: str, event: str) -> None:
        if event == "start":
            self.tasks[stage] = self.progress.add_task(stage, total=1)
        elif event.startswith("warning: "):
            warn(event.removeprefix("warning: "))
        elif event in ("done", "cached"):
            label = f"{stage} [dim](cached)[/]" if event == "cached" else stage
            self.progress.update(self.tasks[stage], completed=1, description=f"[green]✓[/] {label}")
        elif stage in self.tasks:
            self.progress.update(self.tasks[stage], description=f"{stage} [dim]{event}[/]")


BASELINE_PREFIX = "baseline: "


def p_none_line(p_none: dict[str, Any]) -> str:
    """Which p(None) the baskets use, and why (`auto`: the out-of-fold F1 of each choice)."""
    chosen, requested = p_none.get("chosen", "?"), p_none.get("requested", "?")
    figures = ", ".join(f"{k} {v:.4f}" for k, v in (p_none.get("oof_f1") or {}).items())
    if requested == "auto":
        return (
            f"p(None): auto chose {chosen} by out-of-fold F1 on "
            f"{p_none.get('orders', 0):,} train orders ({figures or 'none scored'})"
        )
    return f"p(None): {chosen} (basket.p_none = {requested})"


def print_run(result: Any) -> None:
    from basketcast._cli_evaluation import print_comparisons, result_table

    headline = result.metrics["f1"]["orders"]
    rows = [row for row in result.metrics["f1_table"] if row["orders"] == headline]
    # The baselines' "baseline: " prefix gives way to a rule between basketcast and them,
    # so the longest name still fits 80 columns.
    table = result_table(f"mean F1 ({headline}): basketcast, then the baselines")
    table.add_column("method", no_wrap=True)
    for name in ("n", "mean F1", "95 % interval"):
        table.add_column(name, justify="right", no_wrap=True)
    for i, row in enumerate(rows):
        baseline = row["method"].startswith(BASELINE_PREFIX)
        if baseline and i and not rows[i - 1]["method"].startswith(BASELINE_PREFIX):
            table.add_section()
        table.add_row(
            row["method"].removeprefix(BASELINE_PREFIX), f"{row['n']:,}", f"{row['mean_f1']:.4f}",
            f"{row['ci_low']:.4f} – {row['ci_high']:.4f}",
        )  # fmt: skip
    console.print(table)
    console.print(p_none_line(result.metrics.get("p_none") or {}), highlight=False)
    console.print()
    print_comparisons(console, result.metrics)
    item = result.metrics["item_model"]
    console.print(
        f"item model: out-of-fold log loss {item['oof_logloss']:.4f}, AUC {item['oof_auc']:.4f}",
        highlight=False,
    )
    console.print(
        f"outputs in {result.out} (report: {result.out / 'report.html'})", highlight=False
    )
