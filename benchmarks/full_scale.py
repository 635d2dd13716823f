"""basketcast at Instacart's full scale on one machine: time, memory and the accuracy they buy.

Usage::

    # the cost curve: 10 %, 25 %, 50 % and 100 % of Instacart's 206,209 users
    python benchmarks/full_scale.py --scale 0.1 0.25 0.5 1.0 --work /data/bc \\
        --results results.jsonl --plot cost_curve.png
    # a chosen number of users, a lighter training plan
    python benchmarks/full_scale.py --users 1500 --set model.folds=2 --set model.num_boost_round=30
    # XGBoost alone: 50 fixed rounds of the item model on cuda and on cpu, same machine
    python benchmarks/full_scale.py --scale 1.0 --work /data/bc --xgb-rounds 50
    # ... on a seeded sample of 12M labelled rows; or only generate the data
    python benchmarks/full_scale.py --scale 1.0 --work /data/bc --xgb-rounds 50 --xgb-rows 12000000
    python benchmarks/full_scale.py --scale 1.0 --work /data/bc --generate

For each scale the synthetic data set is generated (`basketcast.data.sources.synthetic`)
and written as Parquet under ``--work`` (kept and reused for the same users and seed;
the default is a temporary folder, deleted at the end), then `basketcast.pipeline.run`
runs on it from scratch and its metrics.json gives each stage's seconds and peak RSS.
Generation and each run happen in fresh subprocesses, so every peak RSS is that of
one scale alone. Printed: one summary table per scale (stages, time, memory, and the
F1 they bought: out of fold on train orders, on the synthetic test truth, and the
oracle's F1 from the generator's true probabilities), then a cost table across scales
and the log-log slopes of time and memory against users.

``--xgb-rounds N`` times exactly N boosting rounds (no early stopping) of the item
model on every labelled row of the feature matrix, on ``cuda`` and on ``cpu`` (all
cores), and prints ms per round and the ratio. Without a usable GPU it prints
"GPU not measured" and still times the CPU.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FULL_SCALE_USERS = 206_209
DEFAULT_SCALES = (0.1, 0.25, 0.5, 1.0)
STAGES = ("validate", "features", "item model", "none model", "baskets", "evaluate", "report")
NONE_MODEL = "basketcast (None model)"
PROD = "basketcast (p_none = prod(1 - p))"
ORACLE = "oracle: true probabilities + F1 maximiser"
OOF = "train (out of fold)"
TEST = "test"
GPU_BAR = 15.0
_THREAD_VARS = (
    "POLARS_MAX_THREADS",
    "OMP_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
)
_HERE = Path(__file__).resolve().parent


# --- arguments ------------------------------------------------------------------------------
def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--scale",
        type=float,
        nargs="+",
        help=f"fractions of Instacart's {FULL_SCALE_USERS:,} users (default: 0.1 0.25 0.5 1.0)",
    )
    size.add_argument("--users", type=int, nargs="+", help="numbers of users instead of --scale")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    parser.add_argument(
        "--work",
        type=Path,
        default=None,
        help="folder for data and runs, kept and reused (default: a temporary folder, deleted)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="configuration override passed to load_config, TOML value, repeatable "
        "(e.g. model.train_folds=[0], features.history_targets=1, model.device='\"cuda\"')",
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="thread budget (default 0: all cores)"
    )
    parser.add_argument("--results", type=Path, default=None, help="append JSON lines here")
    parser.add_argument(
        "--drop-runs",
        action="store_true",
        help="delete each scale's run folder (features, models) once measured; data is kept",
    )
    parser.add_argument(
        "--plot", type=Path, default=None, help="write the cost curve (PNG) from --results"
    )
    parser.add_argument(
        "--xgb-rounds",
        type=int,
        default=0,
        metavar="N",
        help="instead of runs: time N fixed item-model rounds on cuda and cpu (one scale)",
    )
    parser.add_argument(
        "--xgb-rows",
        type=int,
        default=0,
        metavar="N",
        help="with --xgb-rounds: a seeded sample of N labelled rows (default: all)",
    )
    parser.add_argument(
        "--generate",
        action="store_true",
        help="only generate (or find) each scale's data under --work, then stop",
    )
    # Internal: what the orchestrating process runs in its subprocesses.
    parser.add_argument("--one-scale", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json-out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.users is None:
        scales = args.scale or DEFAULT_SCALES
        if any(not 0 < s <= 10 for s in scales):
            parser.error("--scale values must be in (0, 10]")
        args.users = [max(round(s * FULL_SCALE_USERS), 1) for s in scales]
    if any(u < 10 for u in args.users):
        parser.error("at least 10 users per scale")
    if args.threads < 0:
        parser.error("--threads must be >= 0")
    if args.xgb_rounds < 0:
        parser.error("--xgb-rounds must be >= 0")
    if args.xgb_rounds and len(args.users) != 1:
        parser.error("--xgb-rounds takes one scale (or one --users)")
    if args.plot is not None and (args.results is None or args.xgb_rounds):
        parser.error("--plot needs --results and a scale sweep (the curve is drawn from the file)")
    args.overrides = _parse_overrides(args.set, parser)
    return args


def _parse_overrides(items: list[str], parser: argparse.ArgumentParser) -> dict[str, Any]:
    """`section.key=value` → {"section.key": value}; the value is TOML, else a bare string."""
    import tomllib

    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            parser.error(f"--set {item!r}: expected SECTION.KEY=VALUE")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw  # model.device=cuda reads as the string "cuda"
        out[key.strip()] = value
    return out


def _all_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _apply_threads(n: int) -> None:
    """The thread budget, before Polars is imported (importing basketcast imports Polars).

    `basketcast.device.set_thread_budget` only sets variables that are unset, and the
    package import already starts Polars' pool, so the variables are forced here first.
    """
    for var in _THREAD_VARS:
        os.environ[var] = str(n)
    from basketcast.device import set_thread_budget

    set_thread_budget(n)


# --- small helpers --------------------------------------------------------------------------
def _folder(work: Path, users: int, seed: int) -> Path:
    return work / f"synthetic-u{users}-s{seed}"


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _say(text: str) -> None:
    print(text, flush=True)


def _gib(mb: float | None) -> str:
    return "—" if mb is None else f"{mb / 1024:.2f}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def _f1_row(table: list[dict[str, Any]], method: str, orders: str) -> dict[str, Any] | None:
    return next((r for r in table if r["method"] == method and r["orders"] == orders), None)


def _f1(value: dict[str, Any] | None) -> str:
    if value is None or value["mean_f1"] is None or math.isnan(value["mean_f1"]):
        return "—"
    return f"{value['mean_f1']:.4f}"


def _run_child(args: argparse.Namespace, users: int, work: Path, flag: str) -> dict[str, Any]:
    """Run this script again with `flag` for one scale; return what it wrote as JSON."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        out = Path(fh.name)
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        flag,
        "--users",
        str(users),
        "--seed",
        str(args.seed),
        "--work",
        str(work),
        "--threads",
        str(args.threads),
        "--json-out",
        str(out),
    ]
    for item in args.set:
        cmd += ["--set", item]
    env = dict(os.environ)
    env.update({var: str(args.threads) for var in _THREAD_VARS})
    try:
        proc = subprocess.run(cmd, env=env, check=False)
        if proc.returncode != 0:
            return {"error": f"{flag} exited with status {proc.returncode}"}
        return json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)


def _machine(threads: int) -> dict[str, Any]:
    """Where the figures come from."""
    info: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).astimezone().isoformat(timespec="seconds"),
        "hostname": socket.gethostname(),
        "cpu_count": os.cpu_count(),
        "cpus_available": _all_cores(),
        "threads": threads,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    try:
        import numba
        import polars as pl
        import xgboost

        import basketcast

        info["versions"] = {
            "basketcast": basketcast.__version__,
            "polars": pl.__version__,
            "xgboost": xgboost.__version__,
            "numba": numba.__version__,
        }
        info["polars_threads"] = pl.thread_pool_size()
    except ImportError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=_HERE,
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
        info["git_commit"] = commit.stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        info["git_commit"] = None
    info["gpu"] = _gpu_name()
    return info


def _gpu_name() -> str | None:
    from basketcast.device import has_cuda

    if not has_cuda():
        return None
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        out = subprocess.run(
            [smi, "--query-gpu=name,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip().splitlines()[0] if out.stdout.strip() else None


# --- data generation (its own subprocess) ---------------------------------------------------
def _generation_marker(data: Path) -> Path:
    return data / "generation.json"


def _existing_data(data: Path, users: int, seed: int) -> dict[str, Any] | None:
    marker = _generation_marker(data)
    if not marker.exists():
        return None
    info = json.loads(marker.read_text())
    if info.get("users") != users or info.get("seed") != seed:
        return None
    return info


def _generate(args: argparse.Namespace) -> None:
    """Child: generate one scale and write it as Parquet, with generation.json written last."""
    from basketcast.data.sources.synthetic import synthetic, write_synthetic

    users, seed = args.users[0], args.seed
    data = _folder(args.work, users, seed) / "data"
    if data.exists():
        shutil.rmtree(data)
    start = time.perf_counter()
    synthetic(100, seed=seed)  # Numba compile or cache load, not part of the generation time
    warmup = time.perf_counter() - start
    start = time.perf_counter()
    generated = synthetic(users, seed=seed)
    generate_s = time.perf_counter() - start
    start = time.perf_counter()
    write_synthetic(generated, data, format="parquet")
    write_s = time.perf_counter() - start
    tables = generated.tables
    info = {
        "users": users,
        "seed": seed,
        "format": "parquet",
        "compile_seconds": round(warmup, 3),
        "generate_seconds": round(generate_s, 3),
        "write_seconds": round(write_s, 3),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "orders": tables["orders"].height,
        "prior_lines": tables["order_products__prior"].height,
        "train_lines": tables["order_products__train"].height,
        "candidates": generated.true_probs.height,
        "bytes": sum(p.stat().st_size for p in data.iterdir() if p.is_file()),
        "generated": dt.datetime.now(dt.UTC).astimezone().isoformat(timespec="seconds"),
        "threads": args.threads,
    }
    _generation_marker(data).write_text(json.dumps(info, indent=2) + "\n")
    if args.json_out:
        args.json_out.write_text(json.dumps(info))


def _ensure_data(args: argparse.Namespace, users: int, work: Path) -> dict[str, Any]:
    data = _folder(work, users, args.seed) / "data"
    info = _existing_data(data, users, args.seed)
    if info is not None:
        _say(f"reusing {data} (generated {info.get('generated', '?')})")
        return {**info, "reused": True}
    _say(f"generating {users:,} users (seed {args.seed}) into {data}")
    info = _run_child(args, users, work, "--generate-only")
    if "error" in info:
        raise SystemExit(f"data generation failed for {users:,} users: {info['error']}")
    return {**info, "reused": False}


# --- one scale (its own subprocess) ---------------------------------------------------------
def _one_scale(args: argparse.Namespace) -> None:
    """Child: one fresh pipeline.run on the scale's data; the result goes to --json-out."""
    import polars as pl

    from basketcast import pipeline
    from basketcast.config import load_config

    users, seed = args.users[0], args.seed
    folder = _folder(args.work, users, seed)
    data, out = folder / "data", folder / "run"
    generation = json.loads(_generation_marker(data).read_text())
    if out.exists():
        shutil.rmtree(out)  # no stage may come from a cache: every figure is a fresh run
    config = load_config(**args.overrides)
    warmup = _warm_up_kernels()
    started = time.perf_counter()

    def progress(stage: str, event: str) -> None:
        _say(f"  [{time.perf_counter() - started:8.1f} s] {stage}: {event}")

    result = pipeline.run(data, out, config=config, progress=progress)
    wall = time.perf_counter() - started
    metrics = json.loads((out / "metrics.json").read_text())

    items = sorted((out / "cache" / "features").glob("items.parquet"))
    by_depth = (
        pl.scan_parquet(items[0])
        .group_by("depth")
        .agg(rows=pl.len(), labelled=pl.col("label").is_not_null().sum())
        .sort("depth")
        .collect()
        if items
        else pl.DataFrame({"depth": [], "rows": [], "labelled": []})
    )
    stages = metrics["stages"]
    table = metrics["f1_table"]
    record: dict[str, Any] = {
        "mode": "scale",
        **_machine(args.threads),
        "users": users,
        "scale": users / FULL_SCALE_USERS,
        "seed": seed,
        "device": metrics["device"],
        "config_overrides": args.overrides,
        "config": config.to_dict(),
        "config_hash": metrics["config_hash"],
        "folds_covered": metrics["folds_covered"],
        "folds": metrics["folds"],
        "data": generation,
        "candidate_rows": int(by_depth.filter(pl.col("depth") == 0)["rows"].sum()),
        "feature_rows": int(by_depth["rows"].sum()),
        "labelled_rows": int(by_depth["labelled"].sum()),
        "rows_by_depth": by_depth.to_dicts(),
        "stages": stages,
        "stage_seconds": {s["name"]: s["seconds"] for s in stages},
        "stage_seconds_sum": round(sum(s["seconds"] for s in stages), 3),
        "pipeline_seconds": round(wall, 3),
        "peak_rss_mb": max(s["peak_rss_mb"] for s in stages),
        "process_peak_rss_mb": round(_peak_rss_mb(), 1),
        "kernel_warmup_seconds": round(warmup, 3),
        "any_stage_cached": any(s["cached"] for s in stages),
        "f1": {
            "oof_none_model": _f1_row(table, NONE_MODEL, OOF),
            "oof_prod": _f1_row(table, PROD, OOF),
            "test_none_model": _f1_row(table, NONE_MODEL, TEST),
            "test_prod": _f1_row(table, PROD, TEST),
            "oracle_test": _f1_row(table, ORACLE, TEST),
            "oracle_oof": _f1_row(table, ORACLE, OOF),
        },
        "f1_headline": metrics["f1"],
        "f1_table": table,
        "item_model": metrics["item_model"],
        "none_model": metrics["none_model"],
        "submission_rows": result.submission.height,
        "run_folder": str(out),
    }
    args.json_out.write_text(json.dumps(record, default=float))


def _warm_up_kernels() -> float:
    """Load (or compile) the F1 kernels before the clock starts, so no scale pays for it.

    Numba caches them on disk, but every fresh process still loads them (~1 s; ~8 s to
    compile in a fresh environment), which would flatten the small end of the curve.
    """
    import polars as pl

    from basketcast.basket import select_baskets

    start = time.perf_counter()
    probs = pl.DataFrame({"order_id": [1, 1, 2], "product_id": [1, 2, 1], "p": [0.3, 0.6, 0.1]})
    select_baskets(probs)
    select_baskets(probs, pl.DataFrame({"order_id": [1, 2], "p_none": [0.1, 0.5]}))
    return time.perf_counter() - start


# --- printing -------------------------------------------------------------------------------
def _console() -> Any:
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 240, highlight=False)


def _ci(row: dict[str, Any] | None) -> str:
    if row is None:
        return ""
    return f"[{row['ci_low']:.4f}, {row['ci_high']:.4f}]  n={row['n']:,}"


def _print_scale(record: dict[str, Any]) -> None:
    from rich.table import Table

    users = record["users"]
    gen = record["data"]
    title = (
        f"{users:,} users ({record['scale']:.1%} of Instacart), seed {record['seed']} — "
        f"{record['hostname']}, xgboost device {record['device']}, threads {record['threads']}"
        + (f", {record['gpu']}" if record.get("gpu") else "")
    )
    table = Table(title=title, title_justify="left")
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_column("peak RSS GiB / 95 % CI", justify="right")
    table.add_column("note")
    table.add_row(
        "data: generate + write Parquet",
        f"{_seconds(gen['generate_seconds'])} + {_seconds(gen['write_seconds'])} s",
        _gib(gen["peak_rss_mb"]),
        f"{gen['orders']:,} orders, {gen['prior_lines']:,} prior lines; not in the total"
        + ("; reused" if gen.get("reused") else ""),
    )
    table.add_row(
        "candidate rows (depth 0 / all depths)",
        f"{record['candidate_rows']:,}",
        "",
        f"{record['feature_rows']:,} feature rows, {record['labelled_rows']:,} labelled",
    )
    table.add_section()
    total = record["pipeline_seconds"]
    for stage in record["stages"]:
        share = stage["seconds"] / total if total else 0.0
        table.add_row(
            stage["name"],
            f"{_seconds(stage['seconds'])} s",
            _gib(stage["peak_rss_mb"]),
            f"{share:.0%}" + (" (cached!)" if stage["cached"] else ""),
        )
    folds = ", ".join(map(str, record["folds_covered"]))
    table.add_row(
        "total (pipeline.run)",
        f"{_seconds(total)} s",
        _gib(record["peak_rss_mb"]),
        f"folds {folds} of {record['folds']}",
        style="bold",
    )
    table.add_section()
    f1 = record["f1"]
    for label, key in (
        ("F1 train out of fold, None model", "oof_none_model"),
        ("F1 train out of fold, prod(1 - p)", "oof_prod"),
        ("F1 test truth, None model", "test_none_model"),
        ("F1 test truth, prod(1 - p)", "test_prod"),
        ("F1 oracle (true probabilities), test", "oracle_test"),
        ("F1 oracle (true probabilities), train", "oracle_oof"),
    ):
        table.add_row(label, _f1(f1[key]), _ci(f1[key]), "")
    item = record["item_model"]
    best = [r.get("best_iteration") for r in item.get("folds", [])]
    table.add_row(
        "item model out of fold AUC / log loss",
        f"{item['oof_auc']:.4f}",
        f"{item['oof_logloss']:.5f}",
        f"best iterations {best}",
    )
    _console().print(table)


def _print_costs(records: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table(title="Cost across scales (seconds per stage)", title_justify="left")
    for name in ("users", "candidate rows"):
        table.add_column(name, justify="right")
    for stage in STAGES:
        table.add_column(stage, justify="right")
    for name in (
        "total s",
        "peak RSS GiB",
        "OOF F1 None model",
        "OOF F1 prod(1-p)",
        "test F1 None model",
        "test F1 prod(1-p)",
        "oracle F1 test",
    ):
        table.add_column(name, justify="right")
    for r in records:
        f1 = r["f1"]
        table.add_row(
            f"{r['users']:,}",
            f"{r['candidate_rows']:,}",
            *(_seconds(r["stage_seconds"].get(s)) for s in STAGES),
            _seconds(r["pipeline_seconds"]),
            _gib(r["peak_rss_mb"]),
            _f1(f1["oof_none_model"]),
            _f1(f1["oof_prod"]),
            _f1(f1["test_none_model"]),
            _f1(f1["test_prod"]),
            _f1(f1["oracle_test"]),
        )
    _console().print(table)


# --- the scale sweep (orchestrator) ---------------------------------------------------------
def _sweep(args: argparse.Namespace, work: Path) -> None:
    sys.path.insert(0, str(_HERE))
    import plot_cost_curve

    records: list[dict[str, Any]] = []
    for users in args.users:
        generation = _ensure_data(args, users, work)
        _say(f"running the pipeline on {users:,} users")
        record = _run_child(args, users, work, "--one-scale")
        if "error" in record:
            _say(f"!! {users:,} users: {record['error']}")
            record = {
                "mode": "scale",
                **_machine(args.threads),
                "users": users,
                "seed": args.seed,
                "config_overrides": args.overrides,
                **record,
            }
        else:
            record["data"] = generation
            _print_scale(record)
            records.append(record)
        if args.results is not None:
            with open(args.results, "a") as fh:
                fh.write(json.dumps(record, default=float) + "\n")
        if args.drop_runs:
            shutil.rmtree(_folder(work, users, args.seed) / "run", ignore_errors=True)
    if records:
        _print_costs(records)
        _say("log-log slopes of this sweep:")
        for line in plot_cost_curve.slope_lines(plot_cost_curve.group_series(records)):
            _say(line)
    if args.plot is not None:
        rows = plot_cost_curve.load_results(args.results)
        if rows:
            lines = plot_cost_curve.plot(rows, args.plot)
            _say(f"wrote {args.plot}; slopes over every successful line of {args.results}:")
            for line in lines:
                _say(line)
    if args.results is not None:
        _say(f"appended {len(args.users)} line(s) to {args.results}")


# --- XGBoost rounds, cuda vs cpu ------------------------------------------------------------
def _labelled_features(args: argparse.Namespace, work: Path, config: Any) -> Any:
    """Labelled rows of the item feature frame: a run's cached features if present, else built."""
    import polars as pl

    from basketcast.data.load import load_dataset
    from basketcast.features.build import build_features

    folder = _folder(work, args.users[0], args.seed)
    data = folder / "data"
    labelled = pl.col("label").is_not_null()
    # A run's self-checking feature cache (RUN/cache/features/<key>/), when one was built.
    cached = sorted((folder / "run" / "cache" / "features").glob("items.parquet"))
    if cached:
        _say(f"features: reusing {cached[0]}")
        return pl.scan_parquet(cached[0]).filter(labelled).collect()
    _say("features: building (no cached item features for this data)")
    start = time.perf_counter()
    items = build_features(load_dataset(data), config=config.features).items
    _say(f"features: built in {time.perf_counter() - start:.1f} s")
    return items.filter(labelled)


def _gpu_usable() -> tuple[bool, str]:
    from basketcast.device import has_cuda, xgboost_has_cuda

    if not has_cuda():
        return False, "no GPU is visible"
    if not xgboost_has_cuda():
        return False, "the installed XGBoost has no CUDA support"
    return True, ""


def _array_module(device: str) -> Any:
    if device == "cuda":
        import cupy

        return cupy
    import numpy

    return numpy


def _check_device(booster: Any, device: str) -> None:
    """XGBoost falls back to the CPU with only a warning when it finds no GPU: catch that."""
    used = json.loads(booster.save_config())["learner"]["generic_param"].get("device", "?")
    if used.split(":")[0] != device:
        raise RuntimeError(f"XGBoost trained on {used!r}, not {device!r} (it fell back)")


def _xgb_rounds(args: argparse.Namespace, work: Path) -> None:
    import gc

    import numpy as np
    import polars as pl
    import xgboost as xgb

    from basketcast.config import load_config
    from basketcast.model import feature_names
    from basketcast.model._matrix import stack_features
    from basketcast.model.train import xgb_params

    config = load_config(**args.overrides)
    generation = _ensure_data(args, args.users[0], work)
    frame = _labelled_features(args, work, config)
    labelled = frame.height
    if args.xgb_rows and args.xgb_rows < frame.height:  # a seeded sample, kept in frame order
        keep = np.sort(np.random.default_rng(args.seed).choice(frame.height, args.xgb_rows, False))
        frame = frame[keep]
    names = feature_names(frame)
    y = frame.get_column("label").cast(pl.Float32).to_numpy()
    rows, rounds = frame.height, args.xgb_rounds
    _say(
        f"{rows:,} of {labelled:,} labelled rows × {len(names)} features, {rounds} rounds, "
        "no early stopping"
    )

    gpu_ok, why_not = _gpu_usable()
    measured: dict[str, dict[str, Any] | None] = {"cuda": None, "cpu": None}
    notes: dict[str, str] = {}
    for device in ("cuda", "cpu"):
        if device == "cuda" and not gpu_ok:
            notes["cuda"] = why_not
            _say(f"GPU not measured: {why_not}")
            continue
        try:
            # The same rows on both devices as one float32 matrix (CuPy on cuda, as train_cv
            # keeps them there), so the figure is XGBoost's, not the feeding of chunks.
            start = time.perf_counter()
            xp = _array_module(device)
            matrix = stack_features(frame, names, xp)
            dmatrix = xgb.QuantileDMatrix(
                matrix, label=xp.asarray(y), max_bin=config.model.max_bin, nthread=args.threads
            )
            del matrix
            build = time.perf_counter() - start
            params = xgb_params(config.model, device=device, threads=args.threads)
            start = time.perf_counter()
            booster = xgb.train(params, dmatrix, num_boost_round=1)  # kernels, caches
            warmup = time.perf_counter() - start
            _check_device(booster, device)
            start = time.perf_counter()
            booster = xgb.train(params, dmatrix, num_boost_round=rounds)
            seconds = time.perf_counter() - start
            _check_device(booster, device)
            done = booster.num_boosted_rounds()
        except Exception as error:  # a GPU that fails must not cost the CPU figure
            if device == "cpu":
                raise
            notes["cuda"] = str(error).splitlines()[0]
            _say(f"GPU not measured: {notes['cuda']}")
            continue
        finally:
            dmatrix = booster = None
            gc.collect()
            if device == "cuda" and gpu_ok:
                _array_module(device).get_default_memory_pool().free_all_blocks()
        measured[device] = {
            "dmatrix_seconds": round(build, 3),
            "warmup_seconds": round(warmup, 3),
            "train_seconds": round(seconds, 3),
            "rounds": done,
            "ms_per_round": round(1000 * seconds / done, 2),
        }
        _say(
            f"{device:>4}: {1000 * seconds / done:9.1f} ms/round ({done} rounds in {seconds:.1f} s; "
            f"matrix + QuantileDMatrix {build:.1f} s, 1-round warm-up {warmup:.1f} s)"
        )
    cuda, cpu = measured["cuda"], measured["cpu"]
    ratio = cpu["ms_per_round"] / cuda["ms_per_round"] if cuda and cpu else None
    if ratio is not None:
        verdict = "meets" if ratio >= GPU_BAR else "MISSES"
        _say(
            f"GPU is {ratio:.1f}x faster per round than {args.threads} CPU threads "
            f"({verdict} the bar: >= {GPU_BAR:.0f}x)"
        )
    else:
        _say("ratio: GPU not measured")
    if args.results is not None:
        record = {
            "mode": "xgb_rounds",
            **_machine(args.threads),
            "users": args.users[0],
            "scale": args.users[0] / FULL_SCALE_USERS,
            "seed": args.seed,
            "config_overrides": args.overrides,
            "params": xgb_params(config.model, device="cpu", threads=args.threads),
            "rows": rows,
            "labelled_rows": labelled,
            "features": len(names),
            "rounds": rounds,
            "cuda": cuda,
            "cpu": cpu,
            "cpu_over_cuda": ratio,
            "notes": notes,
            "data": generation,
        }
        with open(args.results, "a") as fh:
            fh.write(json.dumps(record, default=float) + "\n")
        _say(f"appended 1 line to {args.results}")


# --- entry point ----------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    args.threads = args.threads or _all_cores()
    _apply_threads(args.threads)
    if args.generate_only:
        _generate(args)
        return
    if args.one_scale:
        _one_scale(args)
        return
    temporary = args.work is None
    work = Path(tempfile.mkdtemp(prefix="bc-full-scale-")) if temporary else args.work
    work.mkdir(parents=True, exist_ok=True)
    _say(f"work folder: {work}" + (" (temporary)" if temporary else ""))
    try:
        if args.generate:
            for users in args.users:
                _ensure_data(args, users, work)
        elif args.xgb_rounds:
            _xgb_rounds(args, work)
        else:
            _sweep(args, work)
    finally:
        if temporary:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
