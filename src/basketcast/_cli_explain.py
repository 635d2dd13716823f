"""The `importance`, `report` and `tune` commands, registered on the main app by `basketcast.cli`.

Thin like the rest of the CLI: parse, call `basketcast.importance`,
`basketcast.report.from_run` or `basketcast.tune`, print with Rich. The app's
error boundary (`friendly_errors`) and consoles are passed in, so this module
never imports `basketcast.cli`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

__all__ = ["register"]

DirArg = Annotated[
    Path, typer.Argument(metavar="DATA", help="Folder holding the Instacart-layout tables.")
]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="TOML configuration file.")]
DeviceOpt = Annotated[
    str | None, typer.Option("--device", help="auto, cpu or cuda (overrides the config).")
]


def _config(path: Path | None, device: str | None = None) -> Any:
    from basketcast.config import load_config

    return load_config(path, **{"model.device": device})


RunArg = Annotated[
    Path, typer.Argument(metavar="RUN", help="A folder written by `basketcast run`.")
]


def _int_list(value: str | None) -> list[int]:
    if not value:
        return []
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated fold numbers, got {value!r}") from None


def _importance_table(result: Any, *, top: int) -> Any:
    """A Rich table of the top rows (the caller prints it)."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(
        title=f"{result.method} importance by {result.by}: {escape(result.meaning)}",
        title_justify="left",
    )
    shown = result.table.head(top)
    interval = shown.get_column("low").null_count() < shown.height
    columns = ["#", result.by, "importance"] + (["95 % interval"] if interval else [])
    extras = [
        c for c in ("spread", "share", "mean_shap", "auc_drop", "f1_drop") if c in shown.columns
    ]
    for name in columns + extras:
        table.add_column(name, justify="left" if name == result.by else "right")
    for rank, row in enumerate(shown.iter_rows(named=True), start=1):
        cells = [str(rank), escape(row["name"]), f"{row['importance']:.4g}"]
        if interval:
            cells.append(f"{row['low']:.4g} – {row['high']:.4g}")
        cells += [_extra_cell(c, row[c]) for c in extras]
        table.add_row(*cells)
    return table


def _extra_cell(column: str, value: float | None) -> str:
    """Signed figures (SHAP's mean, LOFO's drops) get a sign; a spread (an SD) does not."""
    if value is None:
        return "–"
    if column == "share":
        return f"{value:.3f}"
    return f"{value:.4g}" if column == "spread" else f"{value:+.4f}"


def _tune_help() -> str:
    from basketcast.tune._space import DEFAULT_SPACE

    lines = "; ".join(p.describe() for p in DEFAULT_SPACE.params)
    return (
        "Search the item model's parameters with Optuna (seeded TPE) on DATA's train orders.\n\n"
        "The objective is the out-of-fold log loss on the user-grouped folds (the mean over "
        "the folds that ran); each trial trains fold 0 first and is pruned there when it "
        "falls behind. --trials N is the total of finished trials (complete and pruned; "
        "failed ones are retried): run the same command again, after Ctrl-C or with a larger "
        "N, and the study goes on. DIR gets study.journal, the cached features, best.toml "
        "(for `basketcast run --config`), trials.csv, history.png, param_importances.png and "
        f"tune.html.\n\nThe space (override it with --space FILE, a TOML file with a `space` table): {lines}."
    )


def register(
    app: typer.Typer,
    *,
    friendly_errors: Callable[[Any], Any],
    console: Console,
    err_console: Console,
) -> None:
    """Add the three commands to `app`."""

    @app.command("importance")
    @friendly_errors
    def importance_command(
        run_dir: RunArg,
        method: Annotated[
            str, typer.Option("--method", help="gain (no compute), shap, or lofo (retrains).")
        ] = "gain",
        by: Annotated[
            str | None,
            typer.Option(
                "--by", help="feature or family (default: family for lofo, else feature)."
            ),
        ] = None,
        rows: Annotated[
            int, typer.Option("--rows", help="shap: out-of-fold depth-0 rows to explain (seeded).")
        ] = 20_000,
        folds: Annotated[
            str | None,
            typer.Option("--folds", help="lofo: folds to retrain, e.g. 0,1 (default: all)."),
        ] = None,
        user_share: Annotated[
            float | None,
            typer.Option("--user-share", help="lofo: share of users to retrain on (seeded)."),
        ] = None,
        budget: Annotated[
            float,
            typer.Option(
                "--budget",
                help="lofo: at most this many times the run's item-model training, by using fewer "
                "folds (then fewer users) unless --folds/--user-share say; 0: no bound.",
            ),
        ] = 3.0,
        together: Annotated[
            list[str] | None,
            typer.Option(
                "--together", help="lofo: also leave these out at once, e.g. user,product."
            ),
        ] = None,
        seed: Annotated[
            int, typer.Option("--seed", help="Seeds the samples and the bootstrap.")
        ] = 0,
        device: DeviceOpt = None,
        top: Annotated[int, typer.Option("--top", help="Rows to print.")] = 25,
    ) -> None:
        """Explain a run's item model: gain, SHAP or leave-one-feature-out importance.

        Writes importance-METHOD.parquet/.json/.png into RUN/explanations/ (beside the
        run's published outputs; run.json does not list them) and prints the table;
        `basketcast report RUN` then adds an Explanations section to report.html.
        """
        from basketcast import importance as imp

        if method not in ("gain", "shap", "lofo"):
            raise typer.BadParameter(f"--method must be gain, shap or lofo, not {method!r}")
        if by is not None and by not in imp.BY:
            raise typer.BadParameter(f"--by must be feature or family, not {by!r}")
        run = imp.load_run(run_dir)
        status = err_console.status(f"{method} importance")
        evaluator: imp.BaseImportanceEvaluator = imp.GainImportanceEvaluator()
        if method == "shap":
            evaluator = imp.ShapImportanceEvaluator(rows=rows, seed=seed, device=device)
        elif method == "lofo":
            evaluator = imp.LofoImportanceEvaluator(
                folds=_int_list(folds),
                user_share=user_share,
                budget=budget,
                together=[tuple(t.split(",")) for t in together or []],
                seed=seed,
                device=device,
                progress=lambda message: status.update(f"LOFO: training {message}"),
            )
        with status:
            result = imp.get_importances(run, evaluator=evaluator, by=by)
        where = imp.explanations_folder(run_dir)  # beside the published outputs, not in run.json
        written = imp.write_importance(
            result, where, run_id=run.run_id, invocation_id=run.invocation_id
        )
        console.print(_importance_table(result, top=top))
        settings = "; ".join(f"{k} {v}" for k, v in result.settings.items())
        console.print(f"computed on: {settings}", highlight=False, markup=False, style="dim")
        for note in result.notes:
            console.print(f"• {note}", highlight=False, markup=False)
        console.print(
            f"wrote {', '.join(p.name for p in written)} to {where}; "
            f"`basketcast report {run_dir}` adds them to report.html",
            highlight=False,
        )

    @app.command("report")
    @friendly_errors
    def report_command(
        run_dir: RunArg,
        data: Annotated[
            Path | None, typer.Option("--data", help="The data folder, if it moved since the run.")
        ] = None,
    ) -> None:
        """Render RUN's report.html again from its files (with an Explanations section when
        RUN/explanations/ holds importance files).

        The run's outputs are published again, with the new report and a new run.json,
        in one atomic swap; the old report is never edited in place.
        """
        from basketcast.report.from_run import rerender_report

        with err_console.status("rendering the report"):
            path = rerender_report(run_dir, data=data)
        console.print(f"wrote {path}", highlight=False)

    @app.command("tune", help=_tune_help())
    @friendly_errors
    def tune_command(
        data: DirArg,
        out: Annotated[Path, typer.Option("--out", help="Study folder (DIR).")],
        trials: Annotated[
            int, typer.Option("--trials", help="Finished trials the study should hold.")
        ],
        storage: Annotated[
            str | None,
            typer.Option(
                "--storage", help="Optuna RDB URL or journal file (default DIR/study.journal)."
            ),
        ] = None,
        study: Annotated[
            str, typer.Option("--study", help="Study name in the storage.")
        ] = "basketcast",
        jobs: Annotated[
            int, typer.Option("--jobs", help="Worker processes; they share the thread budget.")
        ] = 1,
        timeout: Annotated[
            float | None, typer.Option("--timeout", help="Seconds after which no new trial starts.")
        ] = None,
        config: ConfigOpt = None,
        space: Annotated[
            Path | None, typer.Option("--space", help="TOML file with a `space` table.")
        ] = None,
        seed: Annotated[int, typer.Option("--seed", help="Seeds the TPE sampler.")] = 0,
        device: DeviceOpt = None,
    ) -> None:
        import polars as pl
        from rich.table import Table

        from basketcast.tune import load_space, tune

        with err_console.status("tuning") as status:
            result = tune(
                data,
                out,
                trials=trials,
                storage=storage,
                study=study,
                jobs=jobs,
                timeout=timeout,
                config=_config(config, device),
                space=load_space(space),
                seed=seed,
                progress=lambda message: status.update(f"tuning: {message}"),
            )
        trials_table = result.outputs["trials"]
        frame = pl.read_csv(trials_table)
        done = frame.filter(pl.col("state") == "COMPLETE").sort("logloss")
        table = Table(
            title=f"study {study}: best of {result.finished} trials", title_justify="left"
        )
        for name in ("trial", "log loss", "F1", "parameters"):
            table.add_column(name, justify="left" if name == "parameters" else "right")
        params = [c for c in frame.columns if c.startswith("param_")]
        for row in done.head(10).iter_rows(named=True):
            text = " ".join(
                f"{p.removeprefix('param_')}={row[p]:.3g}"
                if isinstance(row[p], float)
                else f"{p.removeprefix('param_')}={row[p]}"
                for p in params
            )
            table.add_row(str(row["number"]), f"{row['logloss']:.5f}", f"{row['oof_f1']:.4f}", text)
        console.print(table)
        moved = ", ".join(
            f"{k} {v} (the configuration's {c})" for k, (c, v) in result.defaults_moved.items()
        )
        console.print(
            "trial 0 is the configuration's defaults"
            + (f", moved inside the space: {moved}" if moved else ""),
            highlight=False,
        )
        states = frame.group_by("state").len().sort("state").iter_rows()
        console.print(", ".join(f"{n} {s.lower()}" for s, n in states), highlight=False)
        if "best" in result.outputs:
            console.print(f"best configuration: {result.outputs['best']}", highlight=False)
        console.print(f"trials: {trials_table}; figures: {result.outputs['html']}", highlight=False)
