"""Score later transactions with a finished run's detectors: `amlwatch score`, the batch job.

`amlwatch run` fits its detectors on the data's training period and chooses
each alert threshold on the validation period. A bank then wants the same
detectors, unchanged, on the transactions that come after: tonight's file,
scored in one batch. That is this module; `amlwatch serve` is the one-at-a-time
path, and serves only models whose features are streamable, while a batch can
use every family, the graph and flow ones included (so `xgboost_graph`, the
run's best model on the default world, can raise tomorrow's alerts).

Features are past-only (`amlwatch.features`), so a new transaction's features
need the transactions before it. The history is the run's own data by default
(its ``metrics.json`` records the folder), or `history`; it and the new data
are put into one ledger (`amlwatch.data.combine`), the run's feature families
are computed over both with the run's settings, and only the new rows are
scored. Scored this way, a new row gets the very features (and so the very
score) it would have had in a run over the history and the new data together.

What is scored: the run's XGBoost detectors (their boosters in ``models/``),
its GAN (its saved weights, ``models/NAME/gan/``) and its rules. The other
kinds keep no model a batch can load (Isolation Forest, the two-stage and
bagged XGBoost, the combined kinds); they are listed as skipped, with why.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from amlwatch.cases import assign_cases
from amlwatch.config import RunConfig, config_from_dict
from amlwatch.data import load_ledger
from amlwatch.data.combine import append_ledger
from amlwatch.data.ledger import Ledger
from amlwatch.detectors import Detector, make_detector
from amlwatch.detectors.threads import thread_budget
from amlwatch.detectors.xgb import XGBoostDetector
from amlwatch.evaluate import Period, evaluate_at_threshold, evaluation_table
from amlwatch.features import build_features
from amlwatch.pipeline import ALERT_IDENTITY, detector_alerts
from runkit.runfolder import MANIFEST, published_folder, verify_outputs

__all__ = ["ScoreResult", "load_scorers", "score"]

SCORED_KINDS = ("xgboost", "rules")


@dataclass
class ScoreResult:
    """What `score` found: alerts, every scored row's scores, and a summary per detector."""

    alerts: pl.DataFrame
    """ALERT_IDENTITY (``txn_id``: the row in the scored file), detector, score, reasons,
    case_id, case_size (`amlwatch.cases`)."""
    scores: pl.DataFrame
    """Every scored row: ``txn_id`` and one score column per detector."""
    summary: pl.DataFrame
    """Per detector: threshold, rows, alerts, alerts per 10k; with labels, the metrics too."""
    skipped: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    history_rows: int = 0


def _published(run: Path) -> tuple[Path, RunConfig, dict[str, Any]]:
    """The run's published invocation, checked against its manifest, with config and metrics."""
    if not (run / "config.json").exists():
        raise FileNotFoundError(f"{run}: no config.json (not a folder of `amlwatch run`)")
    folder = published_folder(run)
    if (folder / MANIFEST).exists():
        verify_outputs(folder, ["config.json", "metrics.json", "models"], product="amlwatch")
    config = config_from_dict(json.loads((folder / "config.json").read_text()))
    metrics = json.loads((folder / "metrics.json").read_text())
    return folder, config, metrics


def load_scorers(
    folder: Path, config: RunConfig, metrics: dict[str, Any], names: list[str] | None = None
) -> tuple[dict[str, Detector], dict[str, str]]:
    """The run's detectors a batch can score (name -> fitted detector with the run's
    threshold) and, for the others, why not. `names` picks some; an unknown or
    unscorable name is an error naming the scorable ones."""
    thresholds = {row["detector"]: row.get("threshold") for row in metrics.get("evaluation", [])}
    ok: dict[str, Detector] = {}
    why: dict[str, str] = {}
    for spec in config.detectors:
        chosen = thresholds.get(spec.name)
        threshold = float(chosen) if chosen is not None and math.isfinite(chosen) else None
        if spec.kind == "rules":
            # Nothing to learn; without a chosen threshold any rule hit alerts (score > 0.5).
            det = make_detector("rules", spec.params, seed=config.seed)
            ok[spec.name] = det.restored(0.5 if threshold is None else threshold)
        elif spec.kind == "xgboost":
            path = folder / "models" / f"{spec.name}.ubj"
            if not path.exists():
                why[spec.name] = f"no models/{path.name} in the run (no labels to fit it?)"
            elif threshold is None:
                why[spec.name] = "the run chose no threshold for it"
            else:
                model = make_detector("xgboost", spec.params, seed=config.seed)
                assert isinstance(model, XGBoostDetector)
                ok[spec.name] = model.load(path).restored(threshold)
        elif spec.kind == "gan":
            saved = folder / "models" / spec.name / "gan"
            if not (saved / "gan.json").exists():
                why[spec.name] = f"no models/{spec.name}/gan/ in the run"
            else:
                from amlwatch.gan import GANDetector  # PyTorch: only for a run with a GAN

                gan = GANDetector.load(saved)  # its saved threshold is the run's chosen one
                ok[spec.name] = gan if threshold is None else gan.set_threshold(threshold)
        else:
            why[spec.name] = f"kind {spec.kind!r} keeps no model in the run folder"
    if names is not None:
        unknown = [n for n in names if n not in ok]
        if unknown:
            reasons = "; ".join(f"{n}: {why.get(n, 'not a detector of this run')}" for n in unknown)
            raise ValueError(
                f"--detector: cannot score {reasons}; scorable: {sorted(ok) or 'none'}"
            )
        ok, why = {n: ok[n] for n in names}, {}  # the others were not asked for
    elif not ok:
        raise ValueError(
            "the run has no detector a batch can score; "
            + "; ".join(f"{k}: {v}" for k, v in why.items())
        )
    return ok, why


def _cases(alerts: pl.DataFrame, detector: str) -> int:
    if alerts.is_empty():
        return 0
    return alerts.filter(pl.col("detector") == detector).get_column("case_id").n_unique()


def _history(history: str | Path | None, metrics: dict[str, Any], run: Path) -> Path:
    if history is not None:
        return Path(history)
    source = metrics.get("source") or ""
    if not source:
        raise ValueError(f"{run}: the run recorded no data folder; give --history or --no-history")
    if not Path(source).exists():
        raise FileNotFoundError(
            f"{source}: the run's data (the history the features need) is gone; give --history "
            "FOLDER with the transactions before the data to score, or --no-history"
        )
    return Path(source)


def score(
    run: str | Path,
    data: str | Path | Ledger,
    *,
    history: str | Path | None = None,
    use_history: bool = True,
    detectors: list[str] | None = None,
) -> ScoreResult:
    """Score `data` with the run's detectors and thresholds (see the module docstring).

    `history`: the transactions before `data` (default: the run's data);
    `use_history=False` scores `data` on its own (its first rows then see no past).
    """
    run = Path(run)
    folder, config, metrics = _published(run)
    with thread_budget(config.threads):  # the boosters take their thread count when loaded
        scorers, skipped = load_scorers(folder, config, metrics, detectors)
    new = data if isinstance(data, Ledger) else load_ledger(data)
    warnings = list(new.warnings)
    if use_history:
        past = load_ledger(_history(history, metrics, run))
        appended = append_ledger(past, new)
        ledger, first_new = appended.ledger, appended.first_new
        warnings += appended.warnings
    else:
        ledger, first_new = new, 0
    frame = build_features(ledger, families=config.families(), graph=config.graph, flow=config.flow)
    rows = frame.filter(pl.col("txn_id") >= first_new)
    identities = ledger.transactions.filter(pl.col("txn_id") >= first_new).select(ALERT_IDENTITY)
    labels = rows.get_column("is_laundering")
    labelled = labels.null_count() == 0 and rows.height > 0
    scores: dict[str, np.ndarray] = {}
    alerts: list[pl.DataFrame] = []
    summary: list[dict[str, Any]] = []
    with thread_budget(config.threads):
        for name, det in scorers.items():
            s = det.decision_function(rows)
            scores[name] = s
            assert det.threshold_ is not None
            hit = s > det.threshold_
            alerts.append(detector_alerts(name, det, rows, s, identities, top=config.reasons_top))
            row: dict[str, Any] = {
                "detector": name,
                "threshold": float(det.threshold_),
                "transactions": rows.height,
                "alerts": int(hit.sum()),
                "alerts_per_10k": 10_000 * float(hit.mean()) if rows.height else 0.0,
            }
            if labelled:
                typology = rows.get_column("typology").to_numpy()
                rings = rows.get_column("ring_id").to_numpy()
                period = Period(s, labels.to_numpy().astype(np.int8), typology, rings)
                measured = evaluate_at_threshold(
                    name, threshold=det.threshold_, period=period, beta=config.beta,
                    budgets=config.budgets,
                )  # fmt: skip
                row |= {k: v for k, v in measured.items() if k not in row}
            summary.append(row)
    shift = pl.col("txn_id") - first_new  # the row in the scored file, 0-based
    alert_frame = (  # the run's case window (`amlwatch.cases`), recorded in its config.json
        assign_cases(pl.concat(alerts).with_columns(shift), window_days=config.case_window_days)
        if alerts
        else pl.DataFrame()
    )
    score_frame = rows.select(shift).with_columns(
        pl.Series(name, values) for name, values in scores.items()
    )
    if not labelled and labels.null_count() < rows.height:
        warnings.append("some rows to score have labels and some not: no metrics computed")
    return ScoreResult(
        alerts=alert_frame,
        scores=score_frame,
        summary=evaluation_table(
            [{**row, "cases": _cases(alert_frame, row["detector"])} for row in summary]
        ),
        skipped=skipped,
        warnings=warnings,
        history_rows=first_new,
    )
