"""Model quality against the planted truth (synthetic) and against a one-feature model (real data).

Synthetic: out-of-fold log loss / AUC of the item model next to those of the
generator's true probabilities on the same rows, expected calibration error,
and out-of-fold F1 next to the F1 of baskets chosen from the true
probabilities; optionally the cost of turning the target-order context off.

    python benchmarks/model_quality.py synthetic --users 20000 --seed 0 [--context-cost]
    python benchmarks/model_quality.py complete-journey
"""

from __future__ import annotations

from basketcast.device import set_thread_budget

set_thread_budget()

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import polars as pl  # noqa: E402

from basketcast import pipeline  # noqa: E402
from basketcast.config import load_config  # noqa: E402
from basketcast.model import expected_calibration_error, log_loss, roc_auc, train_cv  # noqa: E402


def _oof_vs_truth(run: Path, data: Path) -> dict[str, float]:
    oof = pl.read_parquet(run / "oof.parquet").filter(
        (pl.col("kind") == "item") & (pl.col("depth") == 0)
    )
    truth = pl.read_parquet(data / "order_products__train.parquet").select(
        "order_id", "product_id", y=pl.lit(1)
    )
    true_p = pl.read_parquet(data / "true_probs.parquet").select("order_id", "product_id", "p_true")
    rows = (
        oof.join(true_p, on=["order_id", "product_id"])
        .join(truth, on=["order_id", "product_id"], how="left")
        .with_columns(pl.col("y").fill_null(0))
    )
    y, p, t = rows["y"].to_numpy(), rows["p"].to_numpy(), rows["p_true"].to_numpy()
    return {
        "rows": rows.height,
        "logloss_model": log_loss(y, p),
        "logloss_true": log_loss(y, t),
        "auc_model": roc_auc(y, p),
        "auc_true": roc_auc(y, t),
        "ece_model": expected_calibration_error(y, p),
    }


def _f1(metrics: dict, method: str, orders: str = "all last baskets") -> float:
    return next(
        r["mean_f1"] for r in metrics["f1_table"] if r["method"] == method and r["orders"] == orders
    )


def synthetic_quality(users: int, seed: int, context_cost: bool, overrides: dict) -> None:
    from basketcast.data.sources.synthetic import synthetic, write_synthetic

    work = Path(tempfile.mkdtemp(prefix="bc-quality-"))
    data = work / "data"
    write_synthetic(synthetic(users, seed=seed), data, format="parquet")
    configs = {"context on": overrides}
    if context_cost:
        configs["context off"] = {**overrides, "features.exclude": ["context"]}
    for name, cfg in configs.items():
        start = time.perf_counter()
        result = pipeline.run(data, work / name.replace(" ", "-"), config=load_config(**cfg))
        q = _oof_vs_truth(result.out, data)
        ours = _f1(result.metrics, "basketcast (None model)")
        indep = _f1(result.metrics, "basketcast (p_none = prod(1 - p))")
        oracle = _f1(result.metrics, "oracle: true probabilities + F1 maximiser")
        print(
            f"\n== synthetic {users:,} users, seed {seed}, {name} ({time.perf_counter() - start:.0f} s)"
        )
        print(f"item rows (depth 0, out of fold): {q['rows']:,}")
        print(
            f"log loss  model {q['logloss_model']:.5f}  true {q['logloss_true']:.5f}  "
            f"ratio {q['logloss_model'] / q['logloss_true']:.4f}"
        )
        print(
            f"AUC       model {q['auc_model']:.5f}  true {q['auc_true']:.5f}  "
            f"gap {q['auc_true'] - q['auc_model']:.5f}"
        )
        print(f"ECE       model {q['ece_model']:.5f}")
        print(
            f"F1 (all last baskets)  None model {ours:.4f}  prod(1-p) {indep:.4f}  oracle {oracle:.4f}  "
            f"ours/oracle {max(ours, indep) / oracle:.4f}"
        )
        print(json.dumps({s.name: [s.seconds, s.peak_rss_mb] for s in result.stages}))


def complete_journey_quality(overrides: dict) -> None:
    """The full model against a one-feature model (user × product purchase share), same folds."""
    from basketcast.data.sources.complete_journey import complete_journey
    from basketcast.data.sources.transactions import write_converted

    work = Path(tempfile.mkdtemp(prefix="bc-cj-"))
    write_converted(complete_journey(), work / "data", format="parquet")
    config = load_config(**overrides)
    result = pipeline.run(work / "data", work / "run", config=config)
    items = pl.read_parquet(work / "run" / "cache" / "features" / "items.parquet")
    one = train_cv(
        items.select("order_id", "user_id", "product_id", "depth", "label", "up_share"),
        config=config.model,
        threads=config.threads,
    )
    full = result.metrics["item_model"]
    print(f"\n== The Complete Journey ({items.height:,} candidate rows)")
    print(
        f"full model     out-of-fold AUC {full['oof_auc']:.4f}  log loss {full['oof_logloss']:.5f}"
    )
    print(f"up_share only  out-of-fold AUC {one.auc:.4f}  log loss {one.logloss:.5f}")
    f1 = result.metrics["f1"]
    print(
        f"F1 {f1['mean_f1']:.4f} [{f1['ci_low']:.4f}, {f1['ci_high']:.4f}] ({f1['method']}, {f1['orders']}, "
        f"n={f1['n']}); best baseline {f1['best_baseline']['mean_f1']:.4f} ({f1['best_baseline']['method']})"
    )
    print(json.dumps({s.name: [s.seconds, s.peak_rss_mb] for s in result.stages}))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data", choices=["synthetic", "complete-journey"])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--context-cost", action="store_true")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="configuration override, e.g. model.folds=3 (TOML value)",
    )
    args = parser.parse_args()
    import tomllib

    overrides = {k: tomllib.loads(f"v = {v}")["v"] for k, v in (s.split("=", 1) for s in args.set)}
    if args.data == "synthetic":
        synthetic_quality(args.users, args.seed, args.context_cost, overrides)
    else:
        complete_journey_quality(overrides)


if __name__ == "__main__":
    main()
