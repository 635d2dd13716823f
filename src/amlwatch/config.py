"""Run configuration: frozen dataclasses read from TOML; each run writes its resolved config."""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

from amlwatch.cases import DEFAULT_CASE_WINDOW_DAYS
from amlwatch.features.flow import FlowConfig
from amlwatch.features.graph import GraphConfig

__all__ = [
    "DEFAULT_DETECTORS",
    "DetectorSpec",
    "RunConfig",
    "ThresholdRule",
    "config_from_dict",
    "load_config",
]


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
    threads: int = 0  # the detectors' threads (XGBoost, Isolation Forest); 0 = every core
    # Alerts sharing an account at most this many days apart are one case (`amlwatch.cases`).
    case_window_days: float = DEFAULT_CASE_WINDOW_DAYS
    graph: GraphConfig = field(default_factory=GraphConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    detectors: tuple[DetectorSpec, ...] = DEFAULT_DETECTORS

    def __post_init__(self) -> None:
        if self.beta <= 0:
            raise ValueError(f"beta must be > 0, got {self.beta}")
        if self.alert_budget <= 0:
            raise ValueError(f"alert_budget must be > 0, got {self.alert_budget}")
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0 (0 = every core), got {self.threads}")
        if not self.budgets or any(b <= 0 for b in self.budgets):
            raise ValueError(f"budgets must be one or more alerts per 10k > 0, got {self.budgets}")
        fractions = self.fractions
        if len(fractions) != 3 or any(f <= 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
            raise ValueError(
                "fractions must be three positive shares (train, validation, test) summing "
                f"to 1, got {list(fractions)}"
            )
        if not self.case_window_days > 0:  # `not >` also refuses NaN
            raise ValueError(f"case_window_days must be > 0, got {self.case_window_days}")
        if self.reasons_top < 0:
            raise ValueError(f"reasons_top must be >= 0, got {self.reasons_top}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
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


_SECTIONS = ("run", "graph", "flow", "detector")
_RUN_TYPES: dict[str, str] = {
    "seed": "int",
    "beta": "number",
    "threshold": "str",
    "alert_budget": "number",
    "budgets": "numbers",
    "fractions": "numbers",
    "reasons_top": "int",
    "threads": "int",
    "case_window_days": "number",
}


def _type_of(default: Any) -> str:
    return {bool: "bool", int: "int", float: "number", str: "str"}.get(type(default), "any")


def _type_problem(where: str, key: str, value: Any, kind: str) -> str | None:
    """One line when `value` is not of `kind` ("int", "number", "numbers", "str", "bool")."""

    def number(x: Any) -> bool:
        return isinstance(x, int | float) and not isinstance(x, bool)

    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "number": number(value),
        "numbers": isinstance(value, list) and all(number(x) for x in value),
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
    }.get(kind, True)
    if ok:
        return None
    wanted = {"numbers": "a list of numbers", "int": "an integer", "number": "a number",
              "str": "a string", "bool": "true or false"}[kind]  # fmt: skip
    return f"[{where}] {key} must be {wanted}, got {value!r}"


def _value_problems(data: dict[str, Any]) -> list[str]:
    """Wrong types in [run], [graph] and [flow], and an unknown threshold rule: one line each."""
    problems = []
    types = {
        "run": _RUN_TYPES,
        "graph": {f.name: _type_of(f.default) for f in fields(GraphConfig)},
        "flow": {f.name: _type_of(f.default) for f in fields(FlowConfig)},
    }
    for section, known in types.items():
        table = data.get(section, {})
        if not isinstance(table, dict):
            continue
        for key, value in table.items():
            if key in known and (line := _type_problem(section, key, value, known[key])):
                problems.append(line)
    threshold = data.get("run", {}).get("threshold") if isinstance(data.get("run"), dict) else None
    if isinstance(threshold, str) and threshold not in {str(r) for r in ThresholdRule}:
        rules = ", ".join(repr(str(r)) for r in ThresholdRule)
        problems.append(f"[run] threshold must be one of {rules}, got {threshold!r}")
    return problems


_DETECTOR_KEYS = ("name", "kind", "params")


def _check_tables(data: dict[str, Any]) -> tuple[list[str], list[DetectorSpec] | None]:
    """Unknown sections, unknown keys and malformed tables of a config (one message each),
    and the well-formed `[[detector]]` tables as specs (None: the config names none)."""
    problems = []
    unknown = sorted(set(data) - set(_SECTIONS))
    if unknown:
        problems.append(f"{len(unknown)} unknown section(s) {unknown}; known: {list(_SECTIONS)}")
    allowed = {
        "run": {f.name for f in fields(RunConfig)} - {"graph", "flow", "detectors"},
        "graph": {f.name for f in fields(GraphConfig)},
        "flow": {f.name for f in fields(FlowConfig)},
    }
    for section, keys in allowed.items():
        table = data.get(section, {})
        if not isinstance(table, dict):
            problems.append(f"[{section}] must be a table")
        elif bad := sorted(set(table) - keys):
            problems.append(f"[{section}]: {len(bad)} unknown key(s) {bad}; known: {sorted(keys)}")
    if "detector" not in data:
        return problems, None
    tables = data["detector"]
    specs: list[DetectorSpec] = []
    if not isinstance(tables, list):
        return [*problems, "[[detector]] must be an array of tables"], specs
    for i, d in enumerate(tables, 1):
        if not isinstance(d, dict):
            problems.append(f"[[detector]] #{i} must be a table")
            continue
        missing = [k for k in ("name", "kind") if not isinstance(d.get(k), str)]
        if missing:
            problems.append(f"[[detector]] #{i} needs a string {' and '.join(missing)}")
        if bad := sorted(set(d) - set(_DETECTOR_KEYS)):
            problems.append(
                f"[[detector]] #{i}: unknown key(s) {bad}; known: {list(_DETECTOR_KEYS)}"
            )
        params = d.get("params", {})
        if not isinstance(params, dict):
            problems.append(f"[[detector]] #{i}: params must be a table")
        elif not missing:
            specs.append(DetectorSpec(d["name"], d["kind"], dict(params)))
    return problems, specs


def load_config(path: str | Path | None) -> RunConfig:
    """Read a TOML config (`[run]`, `[graph]`, `[flow]`, `[[detector]]`); None gives the defaults.

    Every unknown section, key, detector kind and detector parameter is reported in one
    ValueError (a misspelt key would otherwise be ignored or fall back to a default)."""
    if path is None:
        return RunConfig()
    try:
        data = tomllib.loads(Path(path).read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from None
    from amlwatch.detectors import detector_problems

    problems, specs = _check_tables(data)
    problems += _value_problems(data)
    detectors = DEFAULT_DETECTORS if specs is None else tuple(specs)
    problems += detector_problems(detectors)
    if problems:
        raise ValueError(f"{path}: {len(problems)} problem(s): " + "; ".join(problems))
    try:
        run = dict(data.get("run", {}))
        for key in ("budgets", "fractions"):
            if key in run:
                run[key] = tuple(float(x) for x in run[key])
        if "threshold" in run:
            run["threshold"] = ThresholdRule(run["threshold"])
        graph = GraphConfig(**data.get("graph", {}))
        flow = FlowConfig(**data.get("flow", {}))
        return RunConfig(graph=graph, flow=flow, detectors=detectors, **run)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from None


def config_from_dict(data: dict[str, Any]) -> RunConfig:
    """The `RunConfig` a run wrote as ``config.json`` (`RunConfig.to_dict`), read back."""
    run = {k: v for k, v in data.items() if k not in ("graph", "flow", "detectors")}
    for key in ("budgets", "fractions"):
        if key in run:
            run[key] = tuple(float(x) for x in run[key])
    if "threshold" in run:
        run["threshold"] = ThresholdRule(run["threshold"])
    detectors = tuple(
        DetectorSpec(d["name"], d["kind"], dict(d.get("params", {})))
        for d in data.get("detectors", [])
    )
    return RunConfig(
        graph=GraphConfig(**data.get("graph", {})),
        flow=FlowConfig(**data.get("flow", {})),
        detectors=detectors,
        **run,
    )
