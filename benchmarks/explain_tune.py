"""Importance and tuning on real data (The Complete Journey): cost, and whether tuning helps.

    flock /work/heavy.lock python benchmarks/explain_tune.py --work /tmp/explain --trials 30 --jobs 2

1. `basketcast demo`'s run (packaged demo configuration) -> the default run;
2. gain, SHAP and LOFO by family on it, timed; LOFO's cost against the run's
   item-model stage;
3. a `--trials`-trial search on the same data (train orders only), the demo
   configuration as its base;
4. `basketcast run --config best.toml` on the same data;
   (`--data DIR --config FILE`: another data set and its base configuration,
   e.g. the Instacart sample and `demo-instacart-sample.toml`)
5. test-order F1 of the tuned run against the default run, per order, with a
   95 % paired bootstrap interval of the difference.

Prints a JSON summary and writes it to --results.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from dataclasses import replace
from importlib.resources import files
from pathlib import Path
from typing import Any

from basketcast.device import set_thread_budget


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class _Clock:
    def __enter__(self) -> _Clock:
        self.wall, self.cpu = time.perf_counter(), _cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, _cpu() - self.cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=None, help="seconds for the search")
    parser.add_argument("--space", type=Path, default=None)
    parser.add_argument("--results", type=Path, default=None)
    parser.add_argument("--data", type=Path, default=None, help="other data (default: CJ)")
    parser.add_argument(
        "--config", type=Path, default=None, help="base configuration (default: the CJ demo's)"
    )
    parser.add_argument("--importance-only", action="store_true", help="stop after LOFO")
    parser.add_argument(
        "--tune-only",
        action="store_true",
        help="skip steps 1-2: reuse WORK/default and the figures already in --results",
    )
    args = parser.parse_args()
    set_thread_budget(args.threads)

    import numpy as np
    import polars as pl

    from basketcast.config import load_config
    from basketcast.data.sources.complete_journey import complete_journey
    from basketcast.data.sources.transactions import write_converted
    from basketcast.evaluate import per_order_f1, read_submission, read_truth
    from basketcast.pipeline import run
    from basketcast.tune import load_space, tune

    work: Path = args.work
    data = args.data or work / "data"
    if not (data / "truth.csv").exists():
        write_converted(complete_journey(), data, format="parquet")
    demo = load_config(args.config or Path(str(files("basketcast") / "configs" / "demo.toml")))
    demo = replace(demo, threads=args.threads)
    out: dict[str, Any] = {"trials_asked": args.trials, "jobs": args.jobs, "threads": args.threads}

    def save() -> None:  # after every step: a cut-short run still leaves its figures
        if args.results is not None:
            args.results.write_text(json.dumps(out, indent=2, default=str) + "\n")

    if args.tune_only:  # a search cut short: keep steps 1-2's figures, redo 3-5
        if args.results is not None and args.results.exists():
            out = {**json.loads(args.results.read_text()), **out}
        default_f1 = json.loads((work / "default" / "metrics.json").read_text())["f1"]
    else:
        with _Clock() as clock:
            default = run(data, work / "default", config=demo)
        item = next(s for s in default.stages if s.name == "item model")
        out["default_run"] = {"wall_s": clock.wall, "item_model_s": item.seconds}
        default_f1 = default.metrics["f1"]
        save()
        _importance(work, out, item.seconds, save)
    if args.importance_only:
        return

    with _Clock() as clock:
        study = tune(
            data, work / "tune", trials=args.trials, jobs=args.jobs, timeout=args.timeout,
            config=demo, space=load_space(args.space), seed=0,
        )  # fmt: skip
    table = pl.read_csv(study.outputs["trials"])
    out["tune"] = {
        "wall_s": clock.wall,
        "cpu_s": clock.cpu,
        "finished": study.finished,
        "states": dict(table.group_by("state").len().iter_rows()),
        "default_trial_logloss": table.filter(pl.col("number") == 0)["logloss"].item(),
        "best_logloss": study.study.best_value,
        "best_trial": study.study.best_trial.number,
        "best_params": study.study.best_params,
        "best_oof_f1": study.study.best_trial.user_attrs.get("oof_f1"),
        "default_oof_f1": table.filter(pl.col("number") == 0)["oof_f1"].item(),
    }
    save()

    best = load_config(work / "tune" / "best.toml")
    with _Clock() as clock:
        tuned = run(data, work / "tuned", config=best)
    out["tuned_run"] = {"wall_s": clock.wall}
    save()

    truth = read_truth(data / "truth.csv")
    scores = {
        name: per_order_f1(read_submission(work / name / "submission.csv"), truth)
        for name in ("default", "tuned")
    }
    joined = scores["default"].join(scores["tuned"], on="order_id", suffix="_tuned")
    diff = (joined["f1_tuned"] - joined["f1"]).to_numpy()
    rng = np.random.default_rng(0)
    means = np.array([diff[rng.integers(0, diff.size, diff.size)].mean() for _ in range(2000)])
    out["test_f1"] = {
        "orders": int(diff.size),
        "default": float(joined["f1"].mean()),
        "tuned": float(joined["f1_tuned"].mean()),
        "difference": float(diff.mean()),
        "ci95": [float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))],
        "default_metrics_f1": default_f1,
        "tuned_metrics_f1": tuned.metrics["f1"],
    }
    save()
    print(json.dumps(out, indent=2, default=str))


def _importance(work: Path, out: dict[str, Any], item_seconds: float, save: Any) -> None:
    """Step 2: gain, SHAP and LOFO on the default run, each timed; LOFO against the item stage."""
    from basketcast import importance as imp

    loaded = imp.load_run(work / "default")
    for method, evaluator in (
        ("gain", imp.GainImportanceEvaluator()),
        ("shap", imp.ShapImportanceEvaluator()),
        ("lofo", imp.LofoImportanceEvaluator()),
    ):
        with _Clock() as clock:
            result = imp.get_importances(loaded, evaluator=evaluator)
        imp.write_importance(
            result,
            imp.explanations_folder(work / "default"),
            run_id=loaded.run_id,
            invocation_id=loaded.invocation_id,
        )
        out[method] = {
            "wall_s": clock.wall,
            "cpu_s": clock.cpu,
            "by": result.by,
            "settings": result.settings,
            "table": result.table.head(12).to_dicts(),
            "notes": list(result.notes),
        }
        save()
    out["lofo"]["cost_vs_item_model"] = out["lofo"]["wall_s"] / item_seconds
    save()


if __name__ == "__main__":
    main()
