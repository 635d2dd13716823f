"""Two arms of `ablation.py` runs, each averaged over seeds, compared per order.

An ablation row is one run, and a run's seed (its folds and XGBoost's sampling) moves
mean F1 by a few thousandths on data of a few thousand users. This averages each
order's F1 over an arm's runs (one per seed) before the paired bootstrap over orders,
so the interval is about the configuration, not one draw of folds.

    python benchmarks/seed_average.py WORK default,seed1,seed2 small,small_s1,small_s2

WORK is an `ablation.py` work folder (its ``data`` and ``runs/NAME``); each arm is a
comma-separated list of its variant names. Each run is scored with the p(None) source
its own ``basket.p_none`` chose, on every last basket (train orders out of fold and
test orders), as `ablation.py` scores it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from ablation import _scores

RESAMPLES = 2_000


def _arm(work: Path, names: list[str]) -> dict[str, object]:
    per_run, order_ids, logloss, auc = [], None, [], []
    for name in names:
        scores = _scores(work / "runs" / name, work / "data")
        per_run.append(scores["f1"][scores["chosen"]])
        if order_ids is not None and not (order_ids == scores["order_ids"]).all():
            raise SystemExit(f"{name}: scored other orders than the arm's first run")
        order_ids = scores["order_ids"]
        item = json.loads((work / "runs" / name / "metrics.json").read_text())["item_model"]
        logloss.append(item["oof_logloss"])
        auc.append(item["oof_auc"])
    return {
        "f1": np.mean(per_run, axis=0),
        "order_ids": order_ids,
        "per_run": [round(float(np.mean(f)), 4) for f in per_run],
        "logloss": float(np.mean(logloss)),
        "auc": float(np.mean(auc)),
    }


def main() -> None:
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    work, a_names, b_names = Path(sys.argv[1]), sys.argv[2].split(","), sys.argv[3].split(",")
    a, b = _arm(work, a_names), _arm(work, b_names)
    if not (a["order_ids"] == b["order_ids"]).all():  # type: ignore[union-attr]
        raise SystemExit("the two arms scored different orders")
    diff = b["f1"] - a["f1"]  # type: ignore[operator]
    rng = np.random.default_rng(0)
    boot = np.array([diff[rng.integers(0, diff.size, diff.size)].mean() for _ in range(RESAMPLES)])
    for label, arm, names in (("A", a, a_names), ("B", b, b_names)):
        print(f"{label} {','.join(names)}: mean F1 per run {arm['per_run']}, "
              f"seed-averaged {arm['f1'].mean():.4f}; item log loss {arm['logloss']:.5f}, "  # type: ignore[union-attr]
              f"AUC {arm['auc']:.4f} (means over runs)")  # fmt: skip
    low, high = np.percentile(boot, [2.5, 97.5])
    print(f"B - A over {diff.size:,} orders: {diff.mean():+.4f} [{low:+.4f}, {high:+.4f}] "
          f"(paired bootstrap, {RESAMPLES:,} resamples, seed-averaged per order)")  # fmt: skip


if __name__ == "__main__":
    main()
