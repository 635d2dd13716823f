"""Run configuration: frozen dataclasses read from TOML; each run writes its resolved config."""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from amlwatch.features.flow import FlowConfig
from amlwatch.features.graph import GraphConfig

__all__ = ["DEFAULT_DETECTORS", "DetectorSpec", "RunConfig", "ThresholdRule", "load_config"]


class ThresholdRule(StrEnum):
    """How each detector's threshold is chosen on the validation period."""

    F_BETA = "f_beta"
    BUDGET = "budget"


@dataclass(frozen=True)
class DetectorSpec:
    """One row of the evaluation table: a registered detector `kind` with its parameters."""

    name: str
    kind: str
    params: dict[str, Any] = field(default_factory=dict)


DEFAULT_DETECTORS: tuple[DetectorSpec, ...] = (
    DetectorSpec("rules", "rules"),
    DetectorSpec("iforest", "iforest"),
    DetectorSpec("xgboost_tabular", "xgboost", {"families": ["transaction", "account", "pair"]}),
    # "Graph features" are both families of the money-flow graph: the static snapshots
    # (graph) and the time-respecting flows through accounts (flow).
    DetectorSpec(
        "xgboost_graph",
        "xgboost",
        {"families": ["transaction", "account", "pair", "graph", "flow"]},
    ),
)


@dataclass(frozen=True)
class RunConfig:
    """Everything `amlwatch run` needs besides the data."""

    seed: int = 0
    beta: float = 2.0
    threshold: ThresholdRule = ThresholdRule.F_BETA
    alert_budget: float = 10.0
    budgets: tuple[float, ...] = (10.0, 50.0)
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    reasons_top: int = 3
    graph: GraphConfig = field(default_factory=GraphConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    detectors: tuple[DetectorSpec, ...] = DEFAULT_DETECTORS

    def __post_init__(self) -> None:
        if self.beta <= 0:
            raise ValueError(f"beta must be > 0, got {self.beta}")
        if self.alert_budget <= 0:
            raise ValueError(f"alert_budget must be > 0, got {self.alert_budget}")
        names = [d.name for d in self.detectors]
        if len(set(names)) != len(names):
            raise ValueError(f"detector names must be unique, got {names}")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["threshold"] = str(self.threshold)
        return out

    def families(self) -> list[str]:
        """Feature families any detector needs (graph only when asked for)."""
        from amlwatch.detectors import default_families
        from amlwatch.features.registry import FAMILIES

        wanted = {"transaction", "account", "pair"}
        for d in self.detectors:
            wanted |= set(d.params.get("families", default_families(d.kind)))
        return [f for f in FAMILIES if f in wanted]


def load_config(path: str | Path | None) -> RunConfig:
    """Read a TOML config (`[run]`, `[graph]`, `[flow]`, `[[detector]]`); None gives the defaults."""
    if path is None:
        return RunConfig()
    data = tomllib.loads(Path(path).read_text())
    run = dict(data.get("run", {}))
    for key in ("budgets", "fractions"):
        if key in run:
            run[key] = tuple(float(x) for x in run[key])
    if "threshold" in run:
        run["threshold"] = ThresholdRule(run["threshold"])
    graph = GraphConfig(**data.get("graph", {}))
    flow = FlowConfig(**data.get("flow", {}))
    detectors = DEFAULT_DETECTORS
    if "detector" in data:
        detectors = tuple(
            DetectorSpec(str(d["name"]), str(d["kind"]), dict(d.get("params", {})))
            for d in data["detector"]
        )
    from amlwatch.detectors import detector_problems

    problems = detector_problems(detectors)
    if problems:
        raise ValueError(
            f"{path}: {len(problems)} problem(s) in [[detector]]: " + "; ".join(problems)
        )
    try:
        return RunConfig(graph=graph, flow=flow, detectors=detectors, **run)
    except TypeError as exc:
        raise ValueError(f"{path}: {exc}") from None
