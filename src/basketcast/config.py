"""Run configuration: one frozen dataclass per stage, validated once, read from / written to TOML.

Every knob has its default here and only here; `basketcast run` writes the
resolved configuration next to its outputs (`config.toml`).
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "BasketConfig",
    "Device",
    "FeatureConfig",
    "ModelConfig",
    "PNone",
    "RunConfig",
    "load_config",
]


class Device(enum.StrEnum):
    """Where XGBoost trains: `auto` picks CUDA when a GPU is visible."""

    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


@dataclass(frozen=True)
class FeatureConfig:
    """Candidates and features.

    The old switch ``context_features = false`` (before feature families)
    still reads, with a `FutureWarning`, as ``exclude = ["context"]``;
    ``context_features = true`` is the default and is dropped with the same
    warning. Write ``exclude`` instead: the old key will be removed.
    """

    history_targets: int = 2
    """Extra training targets per user taken from the history (its last k prior orders)."""
    exclude: tuple[str, ...] = ()
    """Feature families switched off by name (see `basketcast.features.REGISTRY`), e.g.
    ["context"] when the target order's own day/hour/gap is not known before it is placed."""
    include: tuple[str, ...] = ()
    """Opt-in feature families switched on by name (those with ``default_on=False`` in
    `basketcast.features.REGISTRY`, e.g. ["item_pattern", "day_gap"])."""
    gpu_engine: bool = False
    """Build features with Polars' GPU engine (cuDF, the `gpu` extra); falls back to the CPU engine."""

    def __post_init__(self) -> None:
        if not 0 <= self.history_targets <= 10:
            raise ValueError(
                f"features.history_targets must be in 0..10, got {self.history_targets}"
            )
        for key in ("exclude", "include"):
            names = getattr(self, key)
            if isinstance(names, str) or not all(isinstance(n, str) for n in names):
                raise ValueError(
                    f'features.{key} must be a list of family names, e.g. ["context"]; '
                    f"got {names!r}"
                )
            # Sorted and unique: the same families switched give the same stage fingerprint.
            object.__setattr__(self, key, tuple(sorted(set(names))))

    @staticmethod
    def upgrade(values: dict[str, Any]) -> dict[str, Any]:
        """Map the deprecated ``context_features`` key of a [features] table onto ``exclude``."""
        if "context_features" not in values:
            return values
        values = dict(values)
        on = values.pop("context_features")
        exclude = list(values.get("exclude", ()))
        if on is False and "context" not in exclude:
            exclude.append("context")
        values["exclude"] = exclude
        warnings.warn(
            f"features.context_features is deprecated; read context_features = "
            f"{str(on).lower()} as exclude = {json.dumps(exclude)}. Write "
            + ('exclude = ["context"]' if on is False else "nothing (the default)")
            + " in its place.",
            FutureWarning,
            stacklevel=3,
        )
        return values


@dataclass(frozen=True)
class ModelConfig:
    """XGBoost item and None models; defaults are the seed's parameters."""

    folds: int = 5
    train_folds: tuple[int, ...] = ()
    """Which folds to train (empty = all). One fold gives a quick run, as in the seed's own code."""
    max_depth: int = 8
    eta: float = 0.1
    colsample_bytree: float = 0.4
    subsample: float = 0.75
    min_child_weight: float = 1.0
    reg_lambda: float = 1.0
    max_bin: int = 256
    num_boost_round: int = 1000
    early_stopping_rounds: int = 30
    none_model: bool = True
    stack_none: bool = False
    """The None model also reads the item model's out-of-fold probabilities (sum, max, mean,
    prod(1 - p)); off by default: on the Instacart sample it did not help (benchmarks/README)."""
    device: Device = Device.AUTO
    seed: int = 0

    def __post_init__(self) -> None:
        if self.folds < 2:
            raise ValueError(f"model.folds must be at least 2, got {self.folds}")
        bad = [f for f in self.train_folds if not 0 <= f < self.folds]
        if bad:
            raise ValueError(f"model.train_folds must lie in 0..{self.folds - 1}, got {bad}")
        for name in ("eta", "colsample_bytree", "subsample"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ValueError(f"model.{name} must be in (0, 1], got {value}")
        if self.max_depth < 1 or self.num_boost_round < 1 or self.early_stopping_rounds < 1:
            raise ValueError(
                "model.max_depth, num_boost_round and early_stopping_rounds must be >= 1"
            )

    @property
    def folds_to_train(self) -> tuple[int, ...]:
        return self.train_folds or tuple(range(self.folds))


class PNone(enum.StrEnum):
    """Where a basket's p(None) comes from (`basket.p_none`)."""

    AUTO = "auto"
    """Whichever of the three below gives the best out-of-fold F1 on the run's own train orders."""
    MODEL = "model"
    """The None model (stacked on the item model's out-of-fold probabilities)."""
    INDEPENDENT = "independent"
    """prod(1 - p_i) over the order's candidates, as if items were independent."""
    BLEND = "blend"
    """The mean of the two."""


@dataclass(frozen=True)
class BasketConfig:
    """How probabilities become baskets.

    The old switch ``use_none_model = true/false`` still reads, with a
    `FutureWarning`, as ``p_none = "model"/"independent"``; write ``p_none``.
    """

    p_none: PNone = PNone.AUTO
    """p(None) from "model", "independent" (prod(1 - p_i)), "blend" (their mean), or "auto":
    the one with the best out-of-fold F1 on the run's train orders (metrics.json: p_none)."""

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "p_none", PNone(self.p_none))
        except ValueError:
            raise ValueError(
                f"basket.p_none must be one of {[v.value for v in PNone]}, got {self.p_none!r}"
            ) from None

    @staticmethod
    def upgrade(values: dict[str, Any]) -> dict[str, Any]:
        """Map the deprecated ``use_none_model`` key of a [basket] table onto ``p_none``."""
        if "use_none_model" not in values:
            return values
        values = dict(values)
        on = values.pop("use_none_model")
        if "p_none" in values:
            raise ValueError(
                "basket.use_none_model is replaced by basket.p_none; give p_none alone"
            )
        values["p_none"] = "model" if on else "independent"
        warnings.warn(
            f"basket.use_none_model is deprecated; read use_none_model = {str(on).lower()} as "
            f'p_none = "{values["p_none"]}". Write that in its place, or p_none = "auto" '
            "(the default) to pick by out-of-fold F1.",
            FutureWarning,
            stacklevel=3,
        )
        return values


@dataclass(frozen=True)
class RunConfig:
    """The whole run."""

    seed: int = 0
    threads: int = 0
    """Threads for Polars, XGBoost and Numba together; 0 = all cores."""
    features: FeatureConfig = field(default_factory=FeatureConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    basket: BasketConfig = field(default_factory=BasketConfig)

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))

    def to_toml(self) -> str:
        """TOML text of the resolved configuration (every knob, defaults included)."""
        top = {k: v for k, v in self.to_dict().items() if not isinstance(v, dict)}
        lines = [f"{k} = {_toml_value(v)}" for k, v in top.items()]
        for section, values in self.to_dict().items():
            if isinstance(values, dict):
                lines += ["", f"[{section}]"] + [
                    f"{k} = {_toml_value(v)}" for k, v in values.items()
                ]
        return "\n".join(lines) + "\n"

    def stage_hash(self, *sections: str) -> str:
        """A short fingerprint of the named sections (all when none named), for stage caching."""
        data = self.to_dict()
        chosen = {s: data[s] for s in sections} if sections else data
        return hashlib.sha256(json.dumps(chosen, sort_keys=True).encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        data = dict(data)
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown configuration keys: {sorted(unknown)}")
        sections = {"features": FeatureConfig, "model": ModelConfig, "basket": BasketConfig}
        if isinstance(data.get("features"), dict):
            data["features"] = FeatureConfig.upgrade(data["features"])
        if isinstance(data.get("basket"), dict):
            data["basket"] = BasketConfig.upgrade(data["basket"])
        for name, klass in sections.items():
            if name in data:
                data[name] = _build(klass, data[name], name)
        return cls(**data)


def load_config(path: str | Path | None = None, **overrides: Any) -> RunConfig:
    """Read a TOML file (or nothing: defaults) and apply `section.key` overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    for dotted, value in overrides.items():
        if value is None:
            continue
        *parents, key = dotted.split(".")
        node = data
        for p in parents:
            node = node.setdefault(p, {})
        node[key] = value
    return RunConfig.from_dict(data)


def _build(klass: type, values: dict[str, Any], section: str) -> Any:
    names = {f.name: f for f in dataclasses.fields(klass)}
    unknown = set(values) - set(names)
    if unknown:
        raise ValueError(f"unknown keys in [{section}]: {sorted(unknown)}")
    kwargs = dict(values)
    if "device" in kwargs:
        kwargs["device"] = Device(kwargs["device"])
    if "train_folds" in kwargs:
        kwargs["train_folds"] = tuple(kwargs["train_folds"])
    for key in ("exclude", "include"):
        if isinstance(kwargs.get(key), list):
            kwargs[key] = tuple(kwargs[key])
    return klass(**kwargs)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)
