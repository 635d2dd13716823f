"""The `basketcast` command line: thin wrappers that parse, call the library, and print with Rich.

Library errors (`DataError`, bad files) become a readable message and exit code 2.
"""

from __future__ import annotations

from basketcast.device import set_thread_budget

set_thread_budget()  # before Polars is imported anywhere

import functools  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Annotated, Any, TypeVar  # noqa: E402

import typer  # noqa: E402
from rich.console import Console  # noqa: E402

from basketcast.data.dataset import DataError  # noqa: E402

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
datasets_app = typer.Typer(help="Make datasets in the Instacart layout.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")

console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(func: F) -> F:
    """Turn input errors into a message on stderr and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (DataError, FileNotFoundError, ValueError) as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(code=2) from None

    return wrapper  # type: ignore[return-value]


DirArg = Annotated[Path, typer.Argument(help="Folder holding the Instacart-layout tables.")]

# --- commands: each calls one library function ------------------------------------------
