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


@app.command("validate")
@friendly_errors
def validate_command(data: DirArg) -> None:
    """Check the tables in DATA: print the counts, or every problem found (exit code 2)."""
    from rich.markup import escape

    from basketcast.data.load import load_dataset
    from basketcast.data.validate import summarize

    summary = summarize(load_dataset(data), history=False)
    sets = ", ".join(f"{n:,} {name}" for name, n in summary.orders.items())
    console.print(
        f"OK: {summary.users:,} users, {sum(summary.orders.values()):,} orders ({sets}), "
        f"{summary.prior_lines:,} prior lines, {summary.train_lines:,} train lines, "
        f"{summary.products_bought:,} products bought",
        highlight=False,
    )
    for warning in summary.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)


@app.command("describe")
@friendly_errors
def describe_command(data: DirArg) -> None:
    """Validate the tables in DATA and print a summary table."""
    from rich.markup import escape
    from rich.table import Table

    from basketcast.data.load import load_dataset
    from basketcast.data.validate import summarize

    summary = summarize(load_dataset(data))
    table = Table(title=f"dataset {escape(str(data))}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for label, value in summary.rows():
        table.add_row(label, value)
    console.print(table)
    for warning in summary.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)


# --- datasets: other data → the Instacart layout (basketcast.data.sources) -----------------


def _table_format(value: str) -> Any:
    if value not in ("csv", "parquet"):
        raise typer.BadParameter(f"--format must be csv or parquet, not {value!r}")
    return value


def _print_conversion(summary: dict[str, Any], out: Path) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"wrote {escape(str(out))}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in summary.items():
        table.add_row(name, f"{value:,}" if isinstance(value, int) else escape(str(value)))
    console.print(table)


@datasets_app.command("from-transactions")
@friendly_errors
def from_transactions_command(
    file: Annotated[
        Path, typer.Argument(help="Transactions: CSV, CSV.gz or Parquet, one row per line.")
    ],
    user: Annotated[str, typer.Option("--user", help="Column of customer ids.")],
    order: Annotated[str, typer.Option("--order", help="Column of order (basket) ids.")],
    time: Annotated[
        str,
        typer.Option("--time", help="Column of order times (datetime, ISO text or epoch seconds)."),
    ],
    product: Annotated[str, typer.Option("--product", help="Column of product ids.")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the tables into.")],
    products: Annotated[
        Path | None, typer.Option("--products", help="Product catalogue file.")
    ] = None,
    product_key: Annotated[
        str | None,
        typer.Option("--product-key", help="Catalogue's product id column (default: --product)."),
    ] = None,
    product_name: Annotated[
        str | None, typer.Option("--product-name", help="Catalogue column of names.")
    ] = None,
    aisle: Annotated[
        str | None, typer.Option("--aisle", help="Catalogue column used as aisle.")
    ] = None,
    department: Annotated[
        str | None, typer.Option("--department", help="Catalogue column used as department.")
    ] = None,
    test_share: Annotated[
        float, typer.Option("--test-share", help="Share of users whose target is test.")
    ] = 0.2,
    seed: Annotated[int, typer.Option("--seed", help="Changes which users are test.")] = 0,
    format: Annotated[
        str, typer.Option("--format", help="csv or parquet.", callback=_table_format)
    ] = "csv",
) -> None:
    """Convert a plain transactions table to the Instacart layout (+ truth.csv and id maps)."""
    from basketcast.data.sources.transactions import from_transactions, read_table, write_converted

    lines = read_table(file, id_columns=[user, order, product])
    catalogue = None
    if products is not None:
        catalogue = read_table(products, id_columns=[product_key or product])
    converted = from_transactions(
        lines,
        user=user,
        order=order,
        time=time,
        product=product,
        products=catalogue,
        product_key=product_key,
        product_name=product_name,
        aisle=aisle,
        department=department,
        test_share=test_share,
        seed=seed,
        source=file.name,
        products_source=products.name if products is not None else "products",
    )
    write_converted(converted, out, format=format)  # type: ignore[arg-type]
    _print_conversion(converted.summary, out)


@datasets_app.command("complete-journey")
@friendly_errors
def complete_journey_command(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the tables into.")],
    format: Annotated[
        str, typer.Option("--format", help="csv or parquet.", callback=_table_format)
    ] = "csv",
    test_share: Annotated[
        float, typer.Option("--test-share", help="Share of households whose target is test.")
    ] = 0.2,
    seed: Annotated[int, typer.Option("--seed", help="Changes which households are test.")] = 0,
) -> None:
    """Convert Dunnhumby's The Complete Journey (bundled, no download) to the Instacart layout."""
    from basketcast.data.sources.complete_journey import complete_journey
    from basketcast.data.sources.transactions import write_converted

    converted = complete_journey(test_share=test_share, seed=seed)
    write_converted(converted, out, format=format)  # type: ignore[arg-type]
    _print_conversion(converted.summary, out)


@app.command("evaluate")
@friendly_errors
def evaluate_command(
    submission: Annotated[Path, typer.Argument(help="Submission CSV: order_id,products.")],
    truth: Annotated[Path, typer.Argument(help="Truth CSV: order_id,products.")],
) -> None:
    """Print the Kaggle mean F1 of SUBMISSION against TRUTH ("None" is a token)."""
    from basketcast.evaluate import mean_f1, read_submission, read_truth

    sub, true = read_submission(submission), read_truth(truth)
    score = mean_f1(sub, true, sources=(str(submission), str(truth)))
    console.print(f"mean F1 {score:.6f} over {true.height:,} orders", highlight=False)


# --- synthetic data (basketcast.data.sources.synthetic) -----------------------------------


@app.command("synth")
@friendly_errors
def synth_command(
    users: Annotated[
        int, typer.Option("--users", help="Number of users (Instacart's full scale: 206209).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the tables into.")],
    seed: Annotated[int, typer.Option("--seed", help="Same users and seed, same data.")] = 0,
    format: Annotated[
        str, typer.Option("--format", help="csv or parquet.", callback=_table_format)
    ] = "csv",
) -> None:
    """Generate an Instacart-shaped history with a planted reorder probability.

    Writes the six tables, truth.csv (test orders) and true_probs.parquet (the
    probability each candidate was drawn with).
    """
    from basketcast.data.sources.synthetic import synthetic, write_synthetic

    with err_console.status(f"generating {users:,} users"):
        data = synthetic(users, seed=seed)
        write_synthetic(data, out, format=format)  # type: ignore[arg-type]
    orders = data.tables["orders"]
    console.print(
        f"wrote {users:,} users, {orders.height:,} orders, "
        f"{data.tables['order_products__prior'].height:,} prior lines and "
        f"{data.true_probs.height:,} candidates to {out}",
        highlight=False,
    )
