"""The one place that wires the stages: ledger -> features -> detectors -> evaluation -> report."""

from __future__ import annotations

import json
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from amlwatch.cases import DEFAULT_CASE_WINDOW_DAYS, assign_cases
from amlwatch.config import RunConfig, ThresholdRule
from amlwatch.data.ledger import Ledger
from amlwatch.data.load import load_ledger
from amlwatch.detectors import Detector, make_detector
from amlwatch.detectors.rules import RulesDetector
from amlwatch.detectors.threads import thread_budget
from amlwatch.errors import DataError, Problem
from amlwatch.evaluate import Period, evaluate_scores, evaluation_table, temporal_split
from amlwatch.evaluate.health import period_warnings, threshold_warnings
from amlwatch.features import build_features
from amlwatch.io import write_frame, write_text
from runkit.runfolder import RunFolder, check_writable, open_run_folder

__all__ = ["ALERT_IDENTITY", "RunResult", "detector_alerts", "run"]

ALERT_IDENTITY = (
    "txn_id",
    "timestamp",
    "from_bank",
    "from_account",
    "to_bank",
    "to_account",
    "amount_paid",
    "payment_currency",
    "payment_format",
)
"""Columns of `alerts.parquet` before `detector`, `score` and `reasons`: the transaction as filed."""


@dataclass
class RunResult:
    """What a run produced (also written under `out`)."""

    out: Path
    table: pl.DataFrame | None
    alerts: pl.DataFrame
    test_scores: dict[str, np.ndarray]
    test_frame: pl.DataFrame
    rule_hits: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    case_window_days: float = DEFAULT_CASE_WINDOW_DAYS


_CURRENCY_COLUMNS = ("payment_currency", "receiving_currency")


def _currencies(transactions: pl.DataFrame) -> list[str]:
    """Every payment and receiving currency of the data, sorted."""
    both = pl.concat(
        [transactions.get_column(c).cast(pl.String).alias("currency") for c in _CURRENCY_COLUMNS]
    )
    return sorted(both.drop_nulls().unique().to_list())


def detector_alerts(
    name: str,
    det: Detector,
    rows: pl.DataFrame,
    scores: np.ndarray,
    identities: pl.DataFrame,
    *,
    top: int,
) -> pl.DataFrame:
    """The rows of `rows` whose score is above the detector's threshold, named by
    `identities` (ALERT_IDENTITY by txn_id), with the detector, score and reasons."""
    hit = scores > (det.threshold_ if det.threshold_ is not None else np.inf)
    flagged = rows.filter(pl.Series(hit))
    return (
        flagged.select("txn_id")
        .join(identities, on="txn_id", how="left", maintain_order="left")
        .with_columns(
            pl.lit(name).alias("detector"),
            pl.Series("score", scores[hit]),
            pl.Series(
                "reasons", ["; ".join(r) for r in det.reasons(flagged, top=top)], dtype=pl.String
            ),
        )
    )


def _peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def run(data: str | Path | Ledger, out: str | Path, config: RunConfig | None = None) -> RunResult:
    """Run every configured detector; thresholds on the validation period, metrics on test.

    Writes `config.json`, `features.parquet`, `models/`, `alerts.parquet`
    (test-period alerts with reasons), `evaluation.csv`, `metrics.json`,
    `report.html` and the manifest `run.json` into the run folder `out`, as
    one unit (`runkit.runfolder`): the outputs are staged while the run
    holds the folder's lock and published together at the end, so a reader,
    or a run that fails or is killed, sees the previous run's complete
    outputs or this one's, never a mix. Without labels, supervised detectors
    are skipped and unsupervised ones alert at their `contamination` threshold.
    """
    cfg = config or RunConfig()
    out = Path(out)
    check_writable(out)  # a wrong --out is said at once, not after the features
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    ledger = data if isinstance(data, Ledger) else load_ledger(data)
    seconds["load"] = time.perf_counter() - t0
    if ledger.n_transactions < 3:  # said before the run folder is touched
        raise DataError(
            [Problem(ledger.source or "the input", "", f"{ledger.n_transactions} transaction(s); "
                     "a run needs at least 3 (training, validation and test periods)")],
            source=ledger.source,
        )  # fmt: skip
    with open_run_folder(out, product="amlwatch") as folder:
        result = _run_into(folder, ledger, cfg, seconds)
    return result


def _run_into(
    folder: RunFolder, ledger: Ledger, cfg: RunConfig, seconds: dict[str, float]
) -> RunResult:
    """The run itself: every output goes to `folder`'s staging area, published at the end."""
    t0 = time.perf_counter()
    frame = build_features(ledger, families=cfg.families(), graph=cfg.graph, flow=cfg.flow)
    seconds["features"] = time.perf_counter() - t0
    write_frame(frame, folder.output("features.parquet"))
    split = temporal_split(frame.height, fractions=cfg.fractions)
    train, valid, test = frame[split.train], frame[split.valid], frame[split.test]
    labels = ledger.has_labels
    y = frame.get_column("is_laundering").fill_null(0).to_numpy().astype(np.int8)
    rows: list[dict[str, Any]] = []
    alerts: list[pl.DataFrame] = []
    test_scores: dict[str, np.ndarray] = {}
    rule_hits: dict[str, int] = {}
    warnings = list(ledger.warnings)
    # Absolute, so `amlwatch serve` finds the history from any working folder.
    source = str(Path(ledger.source).resolve()) if ledger.source else ""
    # An alert names the accounts as the input does (bank, account), not by internal codes.
    identities = ledger.transactions.select(ALERT_IDENTITY)
    if labels:
        warnings += period_warnings(y[split.valid], y[split.test])
    with thread_budget(cfg.threads):  # detectors built inside (and their stages) use it
        for spec in cfg.detectors:
            det: Detector = make_detector(spec.kind, spec.params, seed=cfg.seed)
            if det.supervised and not labels:
                warnings.append(f"{spec.name}: skipped (supervised, and the data has no labels)")
                continue
            t0 = time.perf_counter()
            det.fit(train, y[split.train] if labels else None)
            choose_weight = getattr(det, "choose_weight", None)
            if labels and callable(choose_weight):
                # The GAN's score weight is chosen on the validation period (this uses its labels).
                choose_weight(valid, y[split.valid])
            s_valid, s_test = det.decision_function(valid), det.decision_function(test)
            if labels:
                row = evaluate_scores(
                    spec.name,
                    valid=Period(s_valid, y[split.valid]),
                    test=Period(
                        s_test,
                        y[split.test],
                        test.get_column("typology").to_numpy(),
                        test.get_column("ring_id").to_numpy(),
                    ),
                    beta=cfg.beta,
                    budget=cfg.alert_budget if cfg.threshold is ThresholdRule.BUDGET else None,
                    budgets=cfg.budgets,
                )
                det.set_threshold(row["threshold"])
                rows.append(row)
                if cfg.threshold is not ThresholdRule.BUDGET:
                    warnings += threshold_warnings(
                        spec.name, s_valid, row["threshold"], beta=cfg.beta
                    )
            seconds[f"detector:{spec.name}"] = time.perf_counter() - t0
            test_scores[spec.name] = s_test
            alerts.append(
                detector_alerts(spec.name, det, test, s_test, identities, top=cfg.reasons_top)
            )
            if isinstance(det, RulesDetector):
                rule_hits = det.hit_counts(test)
            export_artifacts = getattr(det, "export_artifacts", None)
            if callable(export_artifacts):  # the GAN: weights + ONNX + Triton model repository
                export_artifacts(folder.output(f"models/{spec.name}"))
            booster = getattr(det, "booster", None)
            if booster is not None:
                booster.save_model(str(folder.output(f"models/{spec.name}.ubj")))
    table = evaluation_table(rows) if rows else None
    alert_frame = (
        assign_cases(pl.concat(alerts), window_days=cfg.case_window_days)
        if alerts
        else pl.DataFrame()
    )
    write_frame(alert_frame, folder.output("alerts.parquet"))
    if table is not None:
        write_frame(table, folder.output("evaluation.csv"))
    metrics = {
        "source": source,
        "transactions": ledger.n_transactions,
        "accounts": ledger.n_accounts,
        "laundering": int(y.sum()) if labels else None,
        # `amlwatch serve` warns about a currency the model never saw (features keep none).
        "currencies": _currencies(ledger.transactions),
        "split_rows": {
            k: getattr(split, k).stop - getattr(split, k).start for k in ("train", "valid", "test")
        },
        "evaluation": table.to_dicts() if table is not None else [],
        "rule_hits_test": rule_hits,
        "seconds": seconds,
        "peak_rss_gib": _peak_rss_gib(),
        "warnings": warnings,
    }
    write_text(folder.output("config.json"), json.dumps(cfg.to_dict(), indent=2, default=str))
    write_text(folder.output("metrics.json"), json.dumps(metrics, indent=2, default=str))
    result = RunResult(
        folder.root,
        table,
        alert_frame,
        test_scores,
        test,
        rule_hits,
        seconds,
        warnings,
        case_window_days=cfg.case_window_days,
    )
    from amlwatch.report import write_report

    t0 = time.perf_counter()
    write_report(result, ledger, folder.output("report.html"))
    seconds["report"] = time.perf_counter() - t0
    folder.publish(extra={"source": source, "transactions": ledger.n_transactions})
    return result
