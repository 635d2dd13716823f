"""The `amlwatch` command line: thin wrappers that parse, call the library, and print with Rich.

Input errors (`DataError`, missing files, bad values) print one message and exit with code 2.
"""

from __future__ import annotations

import os
import sys
import tomllib


def _early_threads(argv: list[str]) -> int:
    """The detectors' thread budget from `--threads` or the `--config` file's `[run] threads`.

    Read before anything imports XGBoost: its OpenMP pool never grows past the
    OMP_NUM_THREADS it starts with. 0 when not given (or unreadable: `load_config` reports
    a bad file properly); `serve` always gets 1 (its latency was measured on one thread).
    """
    if next((a for a in argv if not a.startswith("-")), None) == "serve":
        return 1
    threads, path = None, None
    for i, arg in enumerate(argv):
        value = argv[i + 1] if i + 1 < len(argv) else None
        if arg == "--threads":
            threads = value
        elif arg.startswith("--threads="):
            threads = arg.split("=", 1)[1]
        elif arg == "--config":
            path = value
        elif arg.startswith("--config="):
            path = arg.split("=", 1)[1]
    if threads is None and path is not None:
        try:
            with open(path, "rb") as fh:
                threads = tomllib.load(fh).get("run", {}).get("threads")
        except (OSError, ValueError, AttributeError):
            return 0
    try:
        return max(int(threads), 0) if threads is not None else 0
    except (TypeError, ValueError):
        return 0


# One thread per library, before Polars/NumPy start pools: the features stage already runs
# two processes. OpenMP (XGBoost) gets the detectors' budget: every core unless told; their
# scores do not depend on it. PyTorch would read OMP_NUM_THREADS too: `amlwatch.gan` pins it.
for _var in ("POLARS_MAX_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
_threads = _early_threads(sys.argv[1:])
if _threads > 0:
    os.environ["OMP_NUM_THREADS"] = str(_threads)  # an explicit choice beats the environment
else:
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
# Idle OpenMP threads sleep instead of spinning (spinning beside another process was slow).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import functools  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Annotated, Any, TypeVar  # noqa: E402

import typer  # noqa: E402
from rich.console import Console  # noqa: E402

from amlwatch._cli_usage import UsageWithoutHidden  # noqa: E402
from amlwatch.errors import DataError  # noqa: E402

_HELP = """amlwatch: score bank transactions for money laundering from tabular and graph features.

Start with `amlwatch demo` (a synthetic bank world, end to end, with a report), or
`amlwatch synth --out world` then `amlwatch run world --out run`.
"""

app = typer.Typer(
    help=_HELP,
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},  # as basketcast
)
console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def _print_version(value: bool) -> None:
    if value:
        from amlwatch import __version__

        console.print(f"amlwatch {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    pass


_WRITE_ERRNOS = {28, 30, 122}  # ENOSPC, EROFS, EDQUOT


def _message(exc: BaseException) -> str:
    """One readable reason; an OSError straight from the OS gets its file name and reason."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        verb = "cannot write" if exc.errno in _WRITE_ERRNOS else "cannot use"
        return f"{verb} {exc.filename}: {exc.strerror}"
    return str(exc)


def friendly_errors(func: F) -> F:
    """Turn input errors into a message on stderr and exit code 2.

    Bad data or configuration (`DataError`, `ValueError`) and files that cannot be read or
    written (`OSError`: missing, unreadable, an --out that is a file, a full disk) are the
    user's to fix; anything else is a bug and keeps its traceback (exit code 1).
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (DataError, OSError, ValueError) as exc:
            from rich.markup import escape

            err_console.print(
                f"[bold red]error:[/] {escape(_message(exc))}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(code=2) from None

    return wrapper  # type: ignore[return-value]


ThreadsOption = typer.Option(
    "--threads",
    help="Threads for XGBoost and Isolation Forest (0: every core; their scores do not "
    "depend on it). Overrides the config file's threads.",
)

DataArg = Annotated[
    Path,
    typer.Argument(
        metavar="DATA", help="Folder with transactions.csv|parquet (+ accounts), or the file."
    ),
]


@app.command("validate")
@friendly_errors
def validate_command(data: DataArg) -> None:
    """Check DATA: print counts, or every problem found (exit code 2)."""
    from amlwatch.data import load_ledger

    ledger = load_ledger(data)
    tx = ledger.transactions
    first, last = tx.get_column("timestamp").min(), tx.get_column("timestamp").max()
    labels = (
        f", {int(tx.get_column('is_laundering').sum()):,} labelled laundering"
        if ledger.has_labels
        else ", no labels"
    )
    console.print(
        f"OK: {ledger.n_transactions:,} transactions, {ledger.n_accounts:,} accounts, "
        f"{first!s} .. {last!s}{labels}",
        highlight=False,
    )
    _print_warnings(ledger.warnings)


def _table_format(value: str | None) -> str | None:
    # As basketcast's `--format` (amlwatch does not import basketcast).
    if value is not None and value not in ("csv", "parquet"):
        raise typer.BadParameter(f"--format must be csv or parquet, not {value!r}")
    return value


def _synth_target(
    positional: Path | None, out: Path | None, format: str | None, parquet: bool
) -> tuple[Path, str]:
    """The folder and format of `amlwatch synth`, from the project's `--out DIR --format F`
    or the old `OUT [--parquet]` (still accepted, so scripts keep working)."""
    if positional is not None and out is not None:
        raise typer.BadParameter(
            f"give the folder once (OUT {positional} is the old form of --out)",
            param_hint="'--out'",
        )
    if parquet and format == "csv":
        raise typer.BadParameter(
            "the old form of --format parquet contradicts --format csv", param_hint="'--parquet'"
        )
    folder = out if out is not None else positional
    if folder is None:
        raise typer.BadParameter(
            "required: the folder to write the world into", param_hint="'--out'"
        )
    if positional is not None or parquet:
        old = ", ".join(n for n, used in (("OUT", positional), ("--parquet", parquet)) if used)
        err_console.print(
            f"note: the old form ({old}) still works; the project's is --out DIR --format "
            "csv|parquet",
            highlight=False,
        )
    return folder, "parquet" if parquet else format or "csv"


@app.command("synth", cls=UsageWithoutHidden)
@friendly_errors
def synth_command(
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder to write transactions and accounts into."),
    ] = None,
    transactions: Annotated[
        int, typer.Option(min=1000, help="About this many transactions.")
    ] = 300_000,
    days: Annotated[
        int, typer.Option(min=40, help="Days covered (rings span up to about 4 weeks).")
    ] = 120,
    rate: Annotated[
        float,
        typer.Option(min=0.0, help="Share of laundering transactions (below 0.2)."),
    ] = 0.001,
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 0,
    format: Annotated[
        str | None,
        typer.Option(
            "--format", help="csv or parquet (csv when not given).", callback=_table_format
        ),
    ] = None,
    positional: Annotated[
        Path | None, typer.Argument(metavar="OUT", hidden=True, help="Old form of --out.")
    ] = None,
    parquet: Annotated[
        bool, typer.Option("--parquet", hidden=True, help="Old form of --format parquet.")
    ] = False,
) -> None:
    """Generate a seeded synthetic bank world in AMLworld's layout."""
    from amlwatch.synth import SynthConfig, generate, write_world

    folder, table_format = _synth_target(positional, out, format, parquet)
    world = generate(
        SynthConfig(n_transactions=transactions, days=days, laundering_rate=rate, seed=seed)
    )
    write_world(world, folder, format=table_format)
    tx = world.transactions
    console.print(
        f"wrote {tx.height:,} transactions ({int(tx.get_column('is_laundering').sum()):,} laundering), "
        f"{world.accounts.height:,} accounts to {folder}",
        highlight=False,
    )


def _print_table(result: Any) -> None:
    from rich import box
    from rich.table import Table

    if result.table is None:
        console.print("no labels: alerts written, no evaluation")
        _print_warnings(result.warnings)
        return
    from amlwatch.evaluate import summary_columns

    # No vertical rules: eight columns and long detector names fit an 80-column terminal.
    table = Table(
        title="test period (thresholds chosen on validation)", box=box.SIMPLE_HEAD, pad_edge=False
    )
    # Recall at the first alert budget of the run (10 per 10k by default): "rec@10".
    at = [c for c in result.table.columns if c.startswith("recall_at_") and c.endswith("_per_10k")]
    cols = [*summary_columns(result.table.columns), *at[:1]]
    short = {"alerts_per_10k": "alerts/10k", "precision": "prec"}
    short |= {c: "rec@" + c.removeprefix("recall_at_").removesuffix("_per_10k") for c in at}
    # Detector names are what tells the rows apart: never cut them short.
    width = max(len("detector"), *(len(d) for d in result.table.get_column("detector")))
    for c in cols:
        table.add_column(short.get(c, c), min_width=width if c == "detector" else None)
    for row in result.table.iter_rows(named=True):
        table.add_row(*[_cell(c, row[c]) for c in cols])
    console.print(table)
    _print_warnings(result.warnings)


def _cell(column: str, value: Any) -> str:
    if not isinstance(value, float):
        return str(value)
    return f"{value:.1f}" if column == "alerts_per_10k" else f"{value:.3f}"


def _print_warnings(warnings: Sequence[str]) -> None:
    from rich.markup import escape  # a warning may quote config such as [run]

    for warning in warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)


@app.command("run")
@friendly_errors
def run_command(
    data: DataArg,
    out: Annotated[Path, typer.Option("--out", help="Run folder to write.")],
    config: Annotated[
        Path | None, typer.Option(help=r"TOML config (\[run], \[graph], \[flow], \[\[detector]]).")
    ] = None,
    threads: Annotated[int | None, ThreadsOption] = None,
) -> None:
    """Features -> detectors -> evaluation -> report.html for DATA."""
    import dataclasses

    from amlwatch.config import load_config
    from amlwatch.pipeline import run

    cfg = load_config(config)
    if threads is not None:
        cfg = dataclasses.replace(cfg, threads=threads)
    with console.status("running"):
        result = run(data, out, cfg)
    _print_table(result)
    console.print(f"report: {out / 'report.html'}", highlight=False)


@app.command("demo")
@friendly_errors
def demo_command(
    out: Annotated[Path, typer.Option("--out", help="Folder for the world and the run.")] = Path(
        "amlwatch-demo"
    ),
    seed: Annotated[int, typer.Option(help="Generator and model seed.")] = 0,
    threads: Annotated[
        int,
        typer.Option(
            "--threads",
            help="Threads for XGBoost and Isolation Forest (0: every core; their scores do not "
            "depend on it).",
        ),
    ] = 0,
) -> None:
    """A default synthetic world, end to end: synth -> run -> report."""
    from amlwatch.config import RunConfig
    from amlwatch.pipeline import run
    from amlwatch.synth import SynthConfig, generate, write_world

    with console.status("generating the world"):
        write_world(generate(SynthConfig(seed=seed)), out / "data")
    with console.status("running"):
        result = run(out / "data", out / "run", RunConfig(seed=seed, threads=threads))
    _print_table(result)
    console.print(f"report: {out / 'run' / 'report.html'}", highlight=False)


@app.command("score")
@friendly_errors
def score_command(
    run_dir: Annotated[
        Path, typer.Argument(metavar="RUN", help="A folder written by `amlwatch run`.")
    ],
    data: DataArg,
    out: Annotated[Path, typer.Option("--out", help="Alerts file to write (.parquet or .csv).")],
    scores: Annotated[
        Path | None,
        typer.Option("--scores", help="Also write every row's scores here (.parquet or .csv)."),
    ] = None,
    history: Annotated[
        Path | None,
        typer.Option(
            "--history",
            help="The transactions before DATA, which the features read (default: the run's data).",
        ),
    ] = None,
    use_history: Annotated[
        bool,
        typer.Option(
            "--use-history/--no-history",
            help="--no-history scores DATA on its own: its first rows then see no past.",
        ),
    ] = True,
    detector: Annotated[
        list[str] | None,
        typer.Option(
            "--detector", help="Score with this detector (repeat for more; default: all)."
        ),
    ] = None,
) -> None:
    """Score DATA with a run's detectors and thresholds: the batch job (no refitting).

    Features are past-only, so they are computed over the history (the run's
    data unless --history) followed by DATA, and DATA's rows are scored. The
    run's XGBoost detectors (graph features included) and rules score; in the
    alerts, txn_id is the row in DATA's file (0-based). When DATA has labels,
    the run's thresholds are measured on it too.
    """
    from amlwatch.io import write_frame
    from amlwatch.score import score

    for path in (out, scores):  # an unknown suffix is said now, not after the features
        if path is not None and not path.name.endswith((".parquet", ".csv")):
            raise ValueError(f"{path}: unknown table format (use .csv or .parquet)")
    if history is not None and not use_history:
        raise ValueError("--history and --no-history contradict each other; give one")
    with console.status("scoring"):
        result = score(
            run_dir, data, history=history, use_history=use_history, detectors=detector or None
        )
    write_frame(result.alerts, out)
    if scores is not None:
        write_frame(result.scores, scores)
    _print_score_summary(result)
    console.print(f"alerts: {out}", highlight=False)


def _print_score_summary(result: Any) -> None:
    from rich import box
    from rich.table import Table

    table = Table(
        title=f"{result.scores.height:,} scored at the run's thresholds, after "
        f"{result.history_rows:,} of history",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    columns = ["detector", "alerts", "cases", "alerts_per_10k"]
    measured = ("precision", "recall", "f1", "pr_auc", "rings_found")
    columns += [c for c in measured if c in result.summary.columns]
    short = {"alerts_per_10k": "/10k", "precision": "prec", "recall": "rec", "pr_auc": "prauc",
             "rings_found": "rings"}  # fmt: skip
    width = max(len("detector"), *(len(d) for d in result.summary.get_column("detector")))
    for c in columns:  # detector names tell the rows apart: never cut them short
        table.add_column(short.get(c, c), min_width=width if c == "detector" else None)
    for row in result.summary.iter_rows(named=True):
        table.add_row(*[_cell(c, row[c]) for c in columns])
    console.print(table)
    for name, why in result.skipped.items():
        result.warnings.append(f"{name}: not scored ({why})")
    _print_warnings(result.warnings)


@app.command("serve")
@friendly_errors
def serve_command(
    run_dir: Annotated[
        Path, typer.Argument(metavar="RUN", help="A folder written by `amlwatch run`.")
    ],
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="History that warms the account state on first start (default: the run's data).",
        ),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    db: Annotated[
        Path | None,
        typer.Option("--db", help="SQLite state file (default: RUN/serve/state.sqlite3)."),
    ] = None,
    detector: Annotated[
        str | None,
        typer.Option(
            "--detector",
            help="Serve this detector of the run (default: its GAN, "
            "else its best streamable detector).",
        ),
    ] = None,
    history: Annotated[
        bool, typer.Option(help="Warm a new state file from the history (--no-history: empty).")
    ] = True,
    durability: Annotated[
        str,
        typer.Option(
            "--durability",
            help="What an answer survives: 'process' (a kill of the server; no fsync per "
            "answer) or 'power' (a power cut too; each answer waits for the disk's fsync).",
        ),
    ] = "process",
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning.")] = "info",
) -> None:
    """Score transactions over HTTP: POST /v1/transactions (OpenAPI at /docs).

    Each answer (score, rules hit, alert) comes once the accounts' new state is
    on disk. Binding beyond 127.0.0.1 needs AMLWATCH_API_KEY, which requests
    must then send as X-API-Key.
    """
    from amlwatch.serve import ServeSettings
    from amlwatch.serve.server import run_server

    settings = ServeSettings.from_env(
        run_dir, data_dir=data, host=host, port=port, db=db, detector=detector, history=history,
        durability=durability,
    )  # fmt: skip
    run_server(settings, log_level=log_level)


def main() -> None:  # pragma: no cover - console script entry
    app()
