"""The cost curve of `benchmarks/full_scale.py`: time and peak memory against users, log-log.

Usage::

    python benchmarks/plot_cost_curve.py RESULTS.jsonl OUT.png

Reads the JSON lines that `full_scale.py --results` appends (lines of other
modes, and failed scales, are skipped), draws the pipeline's total time and its
peak RSS (the maximum over stages) against the number of users, one series per
machine × device × threads × configuration overrides, and prints each series'
fitted log-log slope: over every scale, and over the 10 %–100 % range that the
bar (slope ≤ 1.1) is about.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

FULL_SCALE_USERS = 206_209
SLOPE_BAR = 1.1
_TIME_STAGES = ("features", "item model")  # drawn thinly under the total when one series


def load_results(path: str | Path) -> list[dict[str, Any]]:
    """The successful per-scale lines of a results file."""
    rows = []
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if row.get("mode") == "scale" and not row.get("error"):
            rows.append(row)
    return rows


def series_label(row: dict[str, Any]) -> str:
    overrides = row.get("config_overrides") or {}
    text = " ".join(f"{k}={json.dumps(v)}" for k, v in sorted(overrides.items()))
    machine = f"{row['hostname']}, {row['device']}, {row['threads']} threads"
    return machine + (f", {text}" if text else "")


def group_series(rows: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Rows by series label, each sorted by users; a repeated scale keeps its latest line."""
    groups: dict[str, dict[int, dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(series_label(row), {})[row["users"]] = row
    return {k: [v[u] for u in sorted(v)] for k, v in groups.items()}


def loglog_slope(x: Iterable[float], y: Iterable[float]) -> float:
    """Least-squares slope of log(y) on log(x); NaN with fewer than two distinct x."""
    xs, ys = np.asarray(list(x), dtype=float), np.asarray(list(y), dtype=float)
    keep = (xs > 0) & (ys > 0)
    xs, ys = xs[keep], ys[keep]
    if len(np.unique(xs)) < 2:
        return math.nan
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def in_bar_range(users: int) -> bool:
    """True for 10 %–100 % of Instacart's users (rounding tolerated)."""
    return 0.0995 <= users / FULL_SCALE_USERS <= 1.0005


def slopes(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Time and memory slopes of one series, over all scales and over the bar's range."""
    bar = [r for r in rows if in_bar_range(r["users"])]
    out = {}
    for name, subset in (("all", rows), ("bar", bar)):
        users = [r["users"] for r in subset]
        out[f"time_{name}"] = loglog_slope(users, [r["pipeline_seconds"] for r in subset])
        out[f"memory_{name}"] = loglog_slope(users, [r["peak_rss_mb"] for r in subset])
    return out


def _fmt(slope: float) -> str:
    return "n/a" if math.isnan(slope) else f"{slope:.2f}"


def slope_lines(groups: dict[str, list[dict[str, Any]]]) -> list[str]:
    """One printable line per series."""
    lines = []
    for label, rows in groups.items():
        s = slopes(rows)
        users = ", ".join(f"{r['users']:,}" for r in rows)
        verdict = []
        for what in ("time", "memory"):
            bar = s[f"{what}_bar"]
            if math.isnan(bar):
                verdict.append(f"{what}: not enough 10-100 % scales for the bar")
            else:
                ok = "meets" if bar <= SLOPE_BAR else "MISSES"
                verdict.append(f"{what} {ok} the bar (slope {bar:.2f} <= {SLOPE_BAR})")
        lines.append(
            f"{label}  [users {users}]\n"
            f"  log-log slope, all scales: time {_fmt(s['time_all'])}, "
            f"peak memory {_fmt(s['memory_all'])}\n"
            f"  10-100 % scale: {'; '.join(verdict)}"
        )
    return lines


def plot(rows: list[dict[str, Any]], out: str | Path) -> list[str]:
    """Draw the cost curve into `out` (PNG); return the slope lines (also printed by `main`)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    groups = group_series(rows)
    fig = Figure(figsize=(12, 6.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax_time, ax_mem = fig.subplots(1, 2)
    colours = [f"C{i}" for i in range(10)]
    for i, (label, series) in enumerate(groups.items()):
        colour = colours[i % len(colours)]
        users = np.array([r["users"] for r in series], dtype=float)
        seconds = np.array([r["pipeline_seconds"] for r in series])
        memory = np.array([r["peak_rss_mb"] for r in series]) / 1024
        s = slopes(series)
        ax_time.plot(
            users,
            seconds,
            "o-",
            color=colour,
            label=f"{_wrap(label)}\ntotal, slope {_fmt(s['time_all'])}",
        )
        ax_mem.plot(
            users,
            memory,
            "o-",
            color=colour,
            label=f"{_wrap(label)}\nslope {_fmt(s['memory_all'])}",
        )
        if len(groups) == 1:
            for j, stage in enumerate(_TIME_STAGES):
                ys = [_stage_seconds(r, stage) for r in series]
                ax_time.plot(
                    users,
                    ys,
                    ":" if j else "--",
                    marker=".",
                    color=colour,
                    alpha=0.6,
                    label=f"{stage}, slope {_fmt(loglog_slope(users, ys))}",
                )
    for ax, values in ((ax_time, "pipeline_seconds"), (ax_mem, "peak_rss_mb")):
        _reference_line(ax, rows, values, 1024 if values == "peak_rss_mb" else 1)
    ax_time.set(
        xscale="log",
        yscale="log",
        xlabel="users",
        ylabel="seconds (pipeline.run, all stages)",
        title="Time",
    )
    ax_mem.set(
        xscale="log",
        yscale="log",
        xlabel="users",
        ylabel="GiB (peak RSS, max over stages)",
        title="Peak memory",
    )
    plain = FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 10 else f"{v:.3g}")
    # Minor ticks labelled at 2, 3 and 5 x 10^k only: every one of them overlaps.
    sparse = FuncFormatter(lambda v, _: plain(v) if f"{v:.0e}"[0] in "235" else "")
    for ax in (ax_time, ax_mem):
        ax.grid(True, which="both", alpha=0.3)
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(plain)
            axis.set_minor_formatter(sparse)
        ax.tick_params(axis="both", which="both", labelsize=8)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14))
    fig.suptitle("basketcast cost curve on synthetic Instacart-shaped data (log-log)")
    fig.savefig(out, dpi=120)
    return slope_lines(groups)


def _wrap(text: str, width: int = 70) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


def _stage_seconds(row: dict[str, Any], stage: str) -> float:
    return sum(s["seconds"] for s in row["stages"] if s["name"] == stage)


def _reference_line(ax: Any, rows: list[dict[str, Any]], key: str, divide: float) -> None:
    """A grey slope-1 line through the smallest run, for the eye."""
    if not rows:
        return
    first = min(rows, key=lambda r: r["users"])
    last = max(rows, key=lambda r: r["users"])
    if first["users"] == last["users"]:
        return
    x = np.array([first["users"], last["users"]], dtype=float)
    y0 = first[key] / divide
    ax.plot(x, y0 * x / x[0], color="grey", lw=0.8, ls="-.", label="slope 1 (linear)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("results", type=Path, help="JSON lines from full_scale.py --results")
    parser.add_argument("out", type=Path, help="PNG to write")
    args = parser.parse_args()
    rows = load_results(args.results)
    if not rows:
        raise SystemExit(f"{args.results}: no successful per-scale results")
    for line in plot(rows, args.out):
        print(line)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
