"""Ablation: configurations (and code versions) against a reference, with paired intervals.

Each variant is one `basketcast run` of the same data folder; each is scored
per order on every last basket it can be scored on (train orders out of fold,
and test orders when the data has truth.csv), for every p(None) source
(``model`` / ``independent`` / ``blend``) and for the one the run's own
``basket.p_none`` picked. Differences are paired by order against the
reference variant's chosen baskets, with 95 % paired bootstrap intervals.

A variant is ``NAME[@SRC]=KEY=VALUE,KEY=VALUE`` (``NAME`` alone: the
configuration as given). ``@SRC`` runs that variant with another checkout's
``src`` folder first on ``PYTHONPATH`` (e.g. ``@/work/main/src``: the code of
main), so a branch can be measured against the current default.

Examples
--------
::

    flock /work/heavy.lock python benchmarks/ablation.py complete-journey --work /tmp/abl-cj \\
        --config src/basketcast/configs/demo.toml \\
        --variant "main@/work/main/src" --variant new --variant "patterns=features.include=[\\"item_pattern\\"]"

Writes ``WORK/ablation.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

_RUN = """
import json, sys, tomllib
from basketcast.config import load_config
from basketcast.pipeline import run
config_path, overrides, data, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
if sys.argv[5] == "no-field":  # the field baselines feed no figure of the ablation
    import basketcast.evaluate.scoring as scoring
    scoring.FIELD_MAX_ORDERS = -1
run(data, out, config=load_config(config_path or None, **overrides))
"""


def _materialise(name: str, folder: Path, users: int) -> None:
    if (folder / "orders.parquet").exists() or (folder / "orders.csv").exists():
        return
    from basketcast.data.sources.transactions import write_converted

    if name == "complete-journey":
        from basketcast.data.sources.complete_journey import complete_journey

        write_converted(complete_journey(), folder, format="parquet")
    elif name == "instacart-sample":
        from basketcast.data.sources.instacart_sample import instacart_sample

        write_converted(instacart_sample(), folder, format="parquet")
    elif name == "synthetic":
        from basketcast.data.sources.synthetic import synthetic, write_synthetic

        write_synthetic(synthetic(users, seed=0), folder, format="parquet")
    else:
        raise SystemExit(f"unknown data set {name!r}")


def _parse(spec: str) -> tuple[str, str | None, dict[str, Any]]:
    head, _, rest = spec.partition("=")
    name, _, src = head.partition("@")
    overrides: dict[str, Any] = {}
    for item in filter(None, _split_top(rest)):
        key, _, value = item.partition("=")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return name, src or None, overrides


def _split_top(text: str) -> list[str]:
    """Split on commas outside brackets (list values hold commas)."""
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += (ch in "[" and 1) or (-1 if ch == "]" else 0)
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    return [*parts, current]


def _scores(run: Path, data: Path) -> dict[str, Any]:
    """Per-order F1 of each p(None) source, and the run's own choice and item AUC."""
    from basketcast.basket import select_baskets
    from basketcast.basket.p_none import p_none_values
    from basketcast.config import PNone
    from basketcast.data.load import load_dataset
    from basketcast.evaluate import per_order_f1, scoring, truth_from_dataset

    metrics = json.loads((run / "metrics.json").read_text())
    oof, predictions = (
        pl.read_parquet(run / "oof.parquet"),
        pl.read_parquet(run / "predictions.parquet"),
    )
    truth = truth_from_dataset(load_dataset(data))
    sets = scoring._truth_sets(truth, data, oof, predictions)
    scored = sets.get(scoring.ALL, sets[scoring.TRAIN_OOF])
    items, none = scoring.split_probabilities(pl.concat([oof, predictions]))
    per_choice: dict[str, np.ndarray] = {}
    order_ids = None
    for choice in (PNone.MODEL, PNone.INDEPENDENT, PNone.BLEND):
        if none is None and choice is not PNone.INDEPENDENT:
            continue
        baskets = select_baskets(items, p_none_values(items, none, choice))
        f1 = per_order_f1(baskets.select("order_id", "products"), scored).sort("order_id")
        order_ids = f1.get_column("order_id")
        per_choice[choice.value] = f1.get_column("f1").to_numpy()
    chosen = (metrics.get("p_none") or {}).get("chosen")
    if chosen is None:  # a run from before basket.p_none: use_none_model decided
        method = metrics["f1"]["method"]
        chosen = "model" if "None model" in method else "independent"
    recall = _repeat_recall(load_dataset(data), oof)
    return {
        "order_ids": order_ids,
        "f1": per_choice,
        "chosen": chosen,
        "auc": metrics["item_model"]["oof_auc"],
        "p_none": metrics.get("p_none"),
        "repeat_recall_10": recall,
    }


def _repeat_recall(dataset: Any, oof: pl.DataFrame) -> np.ndarray:
    """Per-order repeat recall@10 of the item ranking, train orders out of fold with a repeat."""
    from basketcast.evaluate.field import PAIRED_METRIC
    from basketcast.evaluate.nbr_metrics import per_order_nbr_metrics
    from basketcast.evaluate.targets import _history, _targets

    targets = _targets(dataset, None)
    seen = _history(dataset, targets).select("order_id", "product_id").unique()
    ranking = oof.filter((pl.col("kind") == "item") & (pl.col("depth") == 0)).select(
        "order_id", "product_id", score=pl.col("p")
    )
    truth = dataset.train.join(ranking.select("order_id").unique(), on="order_id", how="semi")
    per_order = per_order_nbr_metrics(ranking, truth, seen)
    rows = per_order.filter(pl.col("n_rep") > 0).sort("order_id")
    return rows.get_column(PAIRED_METRIC).to_numpy()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data", choices=["complete-journey", "instacart-sample", "synthetic"])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--config", default="", help="TOML configuration every variant starts from")
    parser.add_argument("--variant", action="append", required=True, help="NAME[@SRC][=K=V,...]")
    parser.add_argument("--users", type=int, default=5000, help="synthetic users")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--no-field-baselines",
        action="store_true",
        help="skip each run's field baselines (TIFU-KNN tuning, P-/GP-TopFreq): "
        "they take much of the evaluate stage and enter none of the ablation's figures",
    )
    args = parser.parse_args()

    from basketcast.evaluate.intervals import bootstrap, paired_bootstrap

    data = args.work / "data"
    _materialise(args.data, data, args.users)
    rows = []
    reference: dict[str, Any] | None = None
    for spec in args.variant:
        name, src, overrides = _parse(spec)
        out = args.work / "runs" / name
        env = dict(os.environ)
        if src:
            env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
        started = time.time()
        if not (out / "metrics.json").exists():
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    _RUN,
                    args.config,
                    json.dumps(overrides),
                    str(data),
                    str(out),
                    "no-field" if args.no_field_baselines else "field",
                ],
                env=env,
                check=True,
            )
        seconds = time.time() - started
        scores = _scores(out, data)
        ours = scores["f1"][scores["chosen"]]
        if reference is None:
            reference = scores
        ref = reference["f1"][reference["chosen"]]
        if not np.array_equal(scores["order_ids"].to_numpy(), reference["order_ids"].to_numpy()):
            raise SystemExit(f"{name}: scored orders differ from the reference's")
        low, high = bootstrap(ours, seed=args.seed)
        d_low, d_high = paired_bootstrap(ours, ref, seed=args.seed)
        rows.append(
            {
                "variant": name,
                "src": src,
                "overrides": overrides,
                "p_none_chosen": scores["chosen"],
                "mean_f1": float(ours.mean()),
                "ci": [low, high],
                "diff_vs_reference": float((ours - ref).mean()),
                "diff_ci": [d_low, d_high],
                "f1_by_p_none": {k: float(v.mean()) for k, v in scores["f1"].items()},
                "p_none_oof": scores["p_none"],
                "item_auc": scores["auc"],
                "repeat_recall_10": float(scores["repeat_recall_10"].mean()),
                "repeat_recall_10_diff_ci": list(
                    paired_bootstrap(
                        scores["repeat_recall_10"], reference["repeat_recall_10"], seed=args.seed
                    )
                ),
                "orders": len(ours),
                "seconds": round(seconds, 1),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    (args.work / "ablation.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(
        "\n| variant | p_none chosen | mean F1 [95 %] | Δ F1 vs first [paired 95 %] "
        "| F1 model / independent / blend | item AUC | repeat recall@10 [Δ paired 95 %] |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        by = r["f1_by_p_none"]
        triple = " / ".join(
            f"{by[k]:.4f}" if k in by else "–" for k in ("model", "independent", "blend")
        )
        print(
            f"| {r['variant']} | {r['p_none_chosen']} | {r['mean_f1']:.4f} [{r['ci'][0]:.4f}, {r['ci'][1]:.4f}] "
            f"| {r['diff_vs_reference']:+.4f} [{r['diff_ci'][0]:+.4f}, {r['diff_ci'][1]:+.4f}] | {triple} "
            f"| {r['item_auc']:.4f} | {r['repeat_recall_10']:.4f} "
            f"[{r['repeat_recall_10_diff_ci'][0]:+.4f}, {r['repeat_recall_10_diff_ci'][1]:+.4f}] |"
        )


if __name__ == "__main__":
    main()
