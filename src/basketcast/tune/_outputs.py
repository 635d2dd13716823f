"""What a study leaves in its folder: best.toml, the trial table, figures and a small HTML page."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import polars as pl

from basketcast.config import RunConfig
from basketcast.io import atomic_path, write_frame, write_text
from basketcast.tune._space import SearchSpace, apply

__all__ = ["best_toml", "param_importances", "trial_table", "write_outputs"]


def trial_table(study: Any) -> pl.DataFrame:
    """One row per trial: number, state, value, the recorded scores, the parameters."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        attrs = t.user_attrs
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "logloss": t.value if t.value is not None else _last(t.intermediate_values),
                "oof_f1": attrs.get("oof_f1"),
                "oof_auc": attrs.get("oof_auc"),
                "folds_ran": " ".join(map(str, attrs.get("folds_ran", []))),
                "best_iterations": " ".join(map(str, attrs.get("best_iterations", []))),
                "seconds": t.duration.total_seconds() if t.duration is not None else None,
                "worker": attrs.get("worker"),
                "enqueued": bool(t.system_attrs.get("fixed_params")),
                **{f"param_{k}": v for k, v in t.params.items()},
            }
        )
    schema = {"number": pl.Int64, "state": pl.String, "logloss": pl.Float64}
    return pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame(schema=schema)


def _last(values: dict[int, float]) -> float | None:
    return values[max(values)] if values else None


def best_toml(study: Any, base: RunConfig, space: SearchSpace) -> str:
    """A complete configuration with the best trial's parameters, headed by where it came from."""
    best = study.best_trial
    config = apply(
        base, {**{p.name: p.fixed for p in space.params if p.kind == "fixed"}, **best.params}
    )
    finished = sum(t.state.is_finished() for t in study.trials)
    header = [
        f"# The best of {finished} finished trials of study {study.study_name!r}: trial "
        f"{best.number},",
        f"# out-of-fold log loss {best.value:.6f} (mean over folds "
        f"{', '.join(map(str, best.user_attrs.get('folds_ran', [])))}), "
        f"basket F1 {best.user_attrs.get('oof_f1', float('nan')):.4f}.",
        "# Use it with: basketcast run DATA --out RUN --config best.toml",
        "",
    ]
    return "\n".join(header) + config.to_toml()


def param_importances(study: Any) -> dict[str, float]:
    """PED-ANOVA importance of each parameter (empty with < 2 complete trials).

    PED-ANOVA (Optuna) scores how differently a parameter is distributed in
    the best 10 % of trials than in all of them; unlike fANOVA it needs no
    scikit-learn and is quick.
    """
    import optuna

    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(complete) < 2:
        return {}
    evaluator = optuna.importance.PedAnovaImportanceEvaluator()
    try:
        return dict(optuna.importance.get_param_importances(study, evaluator=evaluator))
    except (RuntimeError, ValueError):  # e.g. every complete trial has the same parameters
        return {}


def write_outputs(study: Any, out: Path, *, base: RunConfig, space: SearchSpace) -> dict[str, Path]:
    """Write trials.csv, best.toml (when a trial completed), the figures and tune.html."""
    from basketcast.report._parts import _e, _head, _img, _kv_table, _muted, _table
    from basketcast.tune import _figures

    table = trial_table(study)
    paths = {"trials": write_frame(table, out / "trials.csv")}
    complete = table.filter(pl.col("state") == "COMPLETE") if table.height else table
    if complete.height:
        paths["best"] = write_text(out / "best.toml", best_toml(study, base, space))
    importances = param_importances(study)
    figures = {"history.png": _figures.history(table)}
    if importances:
        figures["param_importances.png"] = _figures.importances(importances)
    for name, png in figures.items():
        with atomic_path(out / name) as tmp:
            tmp.write_bytes(png)
        paths[name] = out / name
    counts = table.group_by("state").len().sort("state") if table.height else table
    parts = [
        _head(f"basketcast tune: {study.study_name}"),
        f"<h1>Study {_e(study.study_name)}</h1>",
    ]
    facts = [(str(r["state"]).lower(), f"{r['len']:,}") for r in counts.iter_rows(named=True)]
    if complete.height:
        best = study.best_trial
        facts += [
            ("best trial", str(best.number)),
            ("best out-of-fold log loss", f"{best.value:.6f}"),
            ("its basket F1", f"{best.user_attrs.get('oof_f1', math.nan):.4f}"),
        ]
    parts.append(_kv_table(facts))
    parts.append("<h2>Optimisation history</h2>")
    parts.append(_img(figures["history.png"], "objective per trial and best so far"))
    parts.append("<h2>Parameter importance</h2>")
    if importances:
        parts.append(
            _muted(
                "PED-ANOVA importance (Optuna): how differently each parameter is distributed in the best 10 % of trials than in all complete trials."
            )
        )
        parts.append(_img(figures["param_importances.png"], "parameter importances"))
    else:
        parts.append(_muted("Needs at least two complete trials with different parameters."))
    parts.append("<h2>Trials, best first</h2>")
    shown = complete.sort("logloss").head(20) if complete.height else table
    formats = {"logloss": "{:.6f}", "oof_f1": "{:.4f}", "oof_auc": "{:.4f}", "seconds": "{:.1f}"}
    formats |= {c: "{:.4g}" for c in shown.columns if c.startswith("param_")}
    parts.append(_table(shown.drop("worker", strict=False), formats))
    parts.append("</main></body></html>\n")
    html = "\n".join(parts).encode("ascii", "xmlcharrefreplace").decode("ascii")
    paths["html"] = write_text(out / "tune.html", html)
    return paths
