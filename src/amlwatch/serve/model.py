"""Which of a run's detectors the service scores with, loaded from the run folder.

What `amlwatch run` leaves in RUN: ``config.json`` (the detectors and their
parameters), ``metrics.json`` (the evaluation table: each detector's
threshold, chosen on the validation period, and its test metrics), and
``models/``: a detector of kind "gan" writes ``models/NAME/gan/gan.json``
(threshold, input columns and scaling) and the ONNX scoring graph in
``models/NAME/model_repository/amlwatch_gan/1/model.onnx``; XGBoost writes
``models/NAME.ubj``. The rules are their TOML file. The Isolation Forest and
the combined kinds ("gan_or_rules", "xgboost_gan") save no model, so they
cannot be served.

The choice (`choose_model`), unless ``--detector NAME`` names one:

1. the run's GAN, scored by its ONNX graph in onnxruntime (the issue's
   serving path; the graph reads the streamable features only);
2. otherwise the servable detector with the best test PR-AUC in the run's
   evaluation table, among XGBoost models whose columns are all streamable
   (an XGBoost that reads graph features is not servable: the service has
   no graph snapshots) and the rules.

The alert threshold is the run's (validation-chosen when the run had labels).
A model alert's reasons are the ones the run's `alerts.parquet` gives for the
same detector (`explain`): XGBoost's largest SHAP contributions, the GAN's
worst-reconstructed columns (the ONNX graph's ``residual`` output; a graph
exported before it existed gives none), the rules hit.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from amlwatch.detectors._frame import shap_values, top_reasons
from amlwatch.detectors.rules import RulesDetector
from amlwatch.features.registry import FAMILIES, REGISTRY

__all__ = ["ServedModel", "choose_model", "load_rules_engine"]

GAN_ONNX = Path("model_repository") / "amlwatch_gan" / "1" / "model.onnx"


@dataclass(frozen=True)
class ServedModel:
    """A loaded detector: one score per feature row, and the run's alert threshold."""

    detector: str
    kind: str  # "gan_onnx", "xgboost" or "rules"
    threshold: float
    path: str
    columns: tuple[str, ...]
    score: Callable[[Mapping[str, Any]], float]
    """One row's score from its values (features, and raw fields for categoricals)."""
    explain: Callable[[Mapping[str, Any]], list[str]] = lambda row: []
    """One row's reasons, as the detector's batch `reasons` words them (called on alerts)."""


def _reasons_top(run_dir: Path) -> int:
    return int(_read_json(run_dir / "config.json").get("reasons_top", 3))


def _read_json(path: Path) -> Any:
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: missing (is {path.parent} a run folder of `amlwatch run`?)"
        )
    return json.loads(path.read_text())


def _evaluation(run_dir: Path) -> dict[str, dict[str, Any]]:
    metrics = _read_json(run_dir / "metrics.json")
    return {row["detector"]: row for row in metrics.get("evaluation", [])}


def _not_streamable(columns: list[str]) -> list[str]:
    return [c for c in columns if c in REGISTRY and not REGISTRY[c].streamable]


def _gan(run_dir: Path, name: str) -> ServedModel:
    import onnxruntime as ort

    from amlwatch.gan.prep import Preprocessor, residual_reasons

    base = run_dir / "models" / name
    meta = _read_json(base / "gan" / "gan.json")
    prep = Preprocessor.from_dict(meta["preprocessor"])
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        str(base / GAN_ONNX), options, providers=["CPUExecutionProvider"]
    )

    numeric = list(prep.numeric)
    # Category -> index as `Preprocessor.transform` maps it (0 = unseen). Its vocabularies are
    # the batch columns cast to strings: raw strings, or float features such as the hour,
    # which Polars writes as "13.0"; a float key is matched by value.
    lookup: list[dict[Any, int]] = []
    for vocab in prep.vocab:
        table: dict[Any, int] = {}
        for i, text in enumerate(vocab, start=1):
            table[text] = i
            with contextlib.suppress(ValueError):
                table.setdefault(float(text), i)
        lookup.append(table)
    categorical = list(zip(prep.categorical, lookup, strict=True))

    def feeds(row: Mapping[str, Any]) -> dict[str, np.ndarray]:
        out = {"numeric": np.array([[row[c] for c in numeric]], dtype=np.float32)}
        if categorical:
            out["categorical"] = np.array(
                [[table.get(row[c], 0) for c, table in categorical]], dtype=np.int64
            )
        return out

    def score(row: Mapping[str, Any]) -> float:
        return float(session.run(["score"], feeds(row))[0][0])

    top = _reasons_top(run_dir)
    has_residual = "residual" in {o.name for o in session.get_outputs()}

    def explain(row: Mapping[str, Any]) -> list[str]:
        if not has_residual:
            return []
        return residual_reasons(prep, session.run(["residual"], feeds(row))[0], top)[0]

    columns = (*prep.numeric, *prep.categorical)
    return ServedModel(
        name, "gan_onnx", float(meta["threshold"]), str(base / GAN_ONNX), columns, score, explain
    )


def _xgboost(run_dir: Path, name: str, threshold: float) -> ServedModel:
    import xgboost as xgb

    path = run_dir / "models" / f"{name}.ubj"
    booster = xgb.Booster()
    booster.load_model(str(path))
    booster.set_param({"nthread": 1})
    columns = list(booster.feature_names or [])

    def score(row: Mapping[str, Any]) -> float:
        x = np.array([[row[c] for c in columns]], dtype=np.float32)
        return float(booster.inplace_predict(x)[0])

    top = _reasons_top(run_dir)

    def explain(row: Mapping[str, Any]) -> list[str]:
        data = xgb.DMatrix(np.array([[row[c] for c in columns]], np.float32), feature_names=columns)
        return top_reasons(shap_values(booster, data, 1, len(columns)), columns, top)[0]

    return ServedModel(name, "xgboost", threshold, str(path), tuple(columns), score, explain)


def load_rules_engine(run_dir: Path) -> RulesDetector:
    """The run's rules (its rules detector's file, else the built-in rules)."""
    config = _read_json(run_dir / "config.json")
    for spec in config.get("detectors", []):
        if spec["kind"] == "rules":
            return RulesDetector(path=spec.get("params", {}).get("path"))
    return RulesDetector()


def _candidates(run_dir: Path) -> tuple[dict[str, Callable[[], ServedModel]], dict[str, str]]:
    """Servable detectors (name -> loader) and, for the others, why not."""
    config = _read_json(run_dir / "config.json")
    evaluation = _evaluation(run_dir)
    ok: dict[str, Callable[[], ServedModel]] = {}
    why: dict[str, str] = {}
    for spec in config.get("detectors", []):
        name, kind = spec["name"], spec["kind"]
        threshold = evaluation.get(name, {}).get("threshold")
        if kind == "gan":
            if (run_dir / "models" / name / GAN_ONNX).exists():
                ok[name] = functools.partial(_gan, run_dir, name)
            else:
                why[name] = f"no {Path('models') / name / GAN_ONNX} in the run"
        elif kind == "xgboost":
            path = run_dir / "models" / f"{name}.ubj"
            families = spec.get("params", {}).get("families")
            graph = families is not None and any(not FAMILIES.get(f, True) for f in families)
            graph = graph or bool(_not_streamable(spec.get("params", {}).get("columns", [])))
            if graph:
                why[name] = (
                    "reads graph features, which are batch only (the graph and flow families)"
                )
            elif not path.exists():
                why[name] = f"no {path.name} in the run's models/"
            elif threshold is None or not math.isfinite(threshold):
                why[name] = "the run chose no threshold for it (no labels?)"
            else:
                ok[name] = functools.partial(_xgboost, run_dir, name, float(threshold))
        elif kind == "rules":
            t = float(threshold) if threshold is not None and math.isfinite(threshold) else 0.5

            def rules(name: str = name, t: float = t, spec: dict[str, Any] = spec) -> ServedModel:
                from amlwatch.serve.rules import RowRules

                engine = RulesDetector(path=spec.get("params", {}).get("path"))
                path = str(engine.path or "rules.toml (built in)")
                row_rules = RowRules(engine)
                columns = tuple(sorted(row_rules.columns))

                def score(row: Mapping[str, Any]) -> float:
                    return float(len(row_rules.hits(row)))

                top = _reasons_top(run_dir)

                def explain(row: Mapping[str, Any]) -> list[str]:
                    return row_rules.hits(row)[:top]

                return ServedModel(name, "rules", t, path, columns, score, explain)

            ok[name] = rules
        else:
            why[name] = f"kind {kind!r} saves no model in the run folder"
    return ok, why


def choose_model(run_dir: str | Path, *, detector: str | None = None) -> ServedModel:
    """Load the detector to serve (see the module docstring for the rule)."""
    run_dir = Path(run_dir)
    ok, why = _candidates(run_dir)
    if detector is not None:
        if detector in ok:
            return ok[detector]()
        reason = why.get(detector, "not a detector of this run")
        raise ValueError(
            f"--detector {detector}: cannot serve it: {reason}; servable: {sorted(ok) or 'none'}"
        )
    config = _read_json(run_dir / "config.json")
    gans = [s["name"] for s in config.get("detectors", []) if s["kind"] == "gan"]
    for name in gans:
        if name in ok:
            return ok[name]()
    if not ok:
        raise ValueError(f"{run_dir}: no servable detector; " + "; ".join(
            f"{k}: {v}" for k, v in why.items()
        ))  # fmt: skip
    evaluation = _evaluation(run_dir)

    def pr_auc(name: str) -> float:
        value = evaluation.get(name, {}).get("pr_auc")
        return float(value) if value is not None and math.isfinite(value) else -1.0

    best = max(ok, key=pr_auc)  # ties keep the config's order (max returns the first)
    return ok[best]()
