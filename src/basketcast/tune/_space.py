"""The search space: which configuration knobs the tuner varies, and over what range.

Plain data with no Optuna import, so `basketcast tune --help` can show it
cheaply. Each parameter is named after the configuration key it sets
(``max_depth`` is ``model.max_depth``; ``history_targets`` is
``features.history_targets``). A TOML file overrides it::

    [space]
    max_depth = { low = 4, high = 10 }            # a new range, same kind
    eta = { low = 0.02, high = 0.2, log = true }
    max_bin = { choices = [128, 256] }
    history_targets = 1                           # fixed: not searched
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from basketcast.config import AUTO_HISTORY_TARGETS, RunConfig

__all__ = ["DEFAULT_SPACE", "Param", "SearchSpace", "load_space"]

_SECTION = {"history_targets": "features"}
"""Parameters that live outside [model]."""


@dataclass(frozen=True)
class Param:
    """One searched knob: an int or float range (``log``: sampled on a log scale), a set of
    ``choices``, or a ``fixed`` value."""

    name: str
    kind: str  # "int", "float", "categorical" or "fixed"
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    fixed: Any = None

    def __post_init__(self) -> None:
        if self.kind in ("int", "float"):
            if self.low is None or self.high is None or not self.low <= self.high:
                raise ValueError(
                    f"space.{self.name}: needs low <= high, got {self.low}, {self.high}"
                )
            if self.log and self.low <= 0:
                raise ValueError(f"space.{self.name}: a log range needs low > 0, got {self.low}")
        elif self.kind == "categorical":
            if not self.choices:
                raise ValueError(f"space.{self.name}: choices must not be empty")
        elif self.kind != "fixed":
            raise ValueError(f"space.{self.name}: unknown kind {self.kind!r}")

    @property
    def key(self) -> str:
        """The configuration key it sets, e.g. ``model.eta``."""
        return f"{_SECTION.get(self.name, 'model')}.{self.name}"

    def describe(self) -> str:
        if self.kind == "fixed":
            return f"{self.name} = {self.fixed}"
        if self.kind == "categorical":
            return f"{self.name} in {{{', '.join(map(str, self.choices))}}}"
        scale = " (log)" if self.log else ""
        low, high = (int(self.low), int(self.high)) if self.kind == "int" else (self.low, self.high)  # type: ignore[arg-type]
        return f"{self.name} {low}..{high}{scale}"

    def contains(self, value: Any) -> bool:
        if self.kind == "fixed":
            return bool(value == self.fixed)
        if self.kind == "categorical":
            return value in self.choices
        return bool(self.low <= value <= self.high)

    def clip(self, value: Any) -> Any:
        """The nearest value inside the space (to enqueue a default that lies outside it)."""
        if self.contains(value):
            return value
        if self.kind == "fixed":
            return self.fixed
        if self.kind == "categorical":
            return min(self.choices, key=lambda c: abs(float(c) - float(value)))
        clipped = min(max(value, self.low), self.high)
        return int(clipped) if self.kind == "int" else float(clipped)


@dataclass(frozen=True)
class SearchSpace:
    """The parameters searched, in order."""

    params: tuple[Param, ...]

    def __getitem__(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def describe(self) -> str:
        return "; ".join(p.describe() for p in self.params)

    def suggest(self, trial: Any) -> dict[str, Any]:
        """Draw one point from an Optuna trial (fixed parameters are not drawn)."""
        values: dict[str, Any] = {}
        for p in self.params:
            if p.kind == "int":
                values[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log)  # type: ignore[arg-type]
            elif p.kind == "float":
                values[p.name] = trial.suggest_float(p.name, p.low, p.high, log=p.log)
            elif p.kind == "categorical":
                values[p.name] = trial.suggest_categorical(p.name, list(p.choices))
            else:
                values[p.name] = p.fixed
        return values

    def _configured(self, config: RunConfig) -> dict[str, Any]:
        """`config`'s values of the searched (not fixed) parameters."""
        values = config.to_dict()
        out = {}
        for p in self.params:
            if p.kind != "fixed":
                section, name = p.key.split(".")
                out[p.name] = values[section][name]
        return out

    def defaults(self, config: RunConfig) -> dict[str, Any]:
        """`config`'s values of the searched parameters, each moved inside the space if needed
        (`config` resolved against the data: no ``"auto"`` left)."""
        return {name: self[name].clip(v) for name, v in self._configured(config).items()}

    def moved_defaults(self, config: RunConfig) -> dict[str, tuple[Any, Any]]:
        """The searched parameters whose `config` value lies outside the space:
        name -> (the value, the one trial 0 runs instead)."""
        inside = self.defaults(config)
        return {
            name: (value, inside[name])
            for name, value in self._configured(config).items()
            if inside[name] != value
        }

    def max_history_targets(self, config: RunConfig) -> int:
        """The deepest history any trial can ask for: features are built once to this depth."""
        try:
            p = self["history_targets"]
        except KeyError:
            return config.features.targets
        if p.kind == "fixed":
            return int(p.fixed)
        if p.kind == "categorical":
            return int(max(p.choices))
        return int(p.high)  # type: ignore[arg-type]


def apply(config: RunConfig, values: Mapping[str, Any]) -> RunConfig:
    """`config` with the searched parameters set to `values` (validated by the config classes)."""
    model = {k: v for k, v in values.items() if _SECTION.get(k, "model") == "model"}
    features = {k: v for k, v in values.items() if _SECTION.get(k) == "features"}
    return replace(
        config,
        model=replace(config.model, **model),
        features=replace(config.features, **features),
    )


DEFAULT_SPACE = SearchSpace(
    (
        Param("max_depth", "int", 3, 12),
        Param("eta", "float", 0.01, 0.3, log=True),
        Param("min_child_weight", "float", 0.1, 100.0, log=True),
        Param("subsample", "float", 0.5, 1.0),
        Param("colsample_bytree", "float", 0.2, 1.0),
        Param("reg_lambda", "float", 1e-3, 100.0, log=True),
        Param("reg_alpha", "float", 1e-4, 10.0, log=True),
        Param("max_bin", "categorical", choices=(64, 128, 256, 512)),
        # Up to the small-data default, so trial 0 runs the default as it is, not one shallower.
        Param("history_targets", "int", 0, AUTO_HISTORY_TARGETS),
    )
)


def load_space(path: str | Path | None, *, base: SearchSpace = DEFAULT_SPACE) -> SearchSpace:
    """`base` with the ``[space]`` table of a TOML file applied (None: `base` itself).

    A key set to a table changes that parameter's range or choices (``low``,
    ``high``, ``log``, ``choices``); a key set to a plain value fixes it. A name
    not in `base` must be a [model] knob and come with a full definition.
    """
    if path is None:
        return base
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    unknown = set(data) - {"space"}
    if unknown:
        raise ValueError(f"{path}: unknown tables {sorted(unknown)}; the space goes in [space]")
    params = {p.name: p for p in base.params}
    for name, spec in data.get("space", {}).items():
        params[name] = _param(name, spec, params.get(name), source=str(path))
    return SearchSpace(tuple(params.values()))


def _param(name: str, spec: Any, old: Param | None, *, source: str) -> Param:
    from dataclasses import fields

    from basketcast.config import ModelConfig

    knobs = {f.name for f in fields(ModelConfig)} - {"folds", "train_folds", "device", "seed"}
    if name not in knobs | set(_SECTION):
        raise ValueError(
            f"{source}: space.{name} is not a knob the tuner can set; choose from "
            f"{sorted(knobs | set(_SECTION))}"
        )
    if not isinstance(spec, dict):
        return Param(name, "fixed", fixed=spec)
    extra = set(spec) - {"low", "high", "log", "choices"}
    if extra:
        raise ValueError(f"{source}: space.{name} has unknown keys {sorted(extra)}")
    if "choices" in spec:
        return Param(name, "categorical", choices=tuple(spec["choices"]))
    low = spec.get("low", old.low if old else None)
    high = spec.get("high", old.high if old else None)
    if old is not None and old.kind in ("int", "float"):
        kind = old.kind
    else:
        kind = "int" if isinstance(low, int) and isinstance(high, int) else "float"
    log = bool(spec.get("log", old.log if old is not None and old.kind == kind else False))
    try:
        return Param(name, kind, low, high, log=log)
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None
