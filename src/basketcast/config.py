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

from basketcast._config_values import check_value
from basketcast.errors import ConfigError

__all__ = [
    "BasketConfig",
    "ClusterConfig",
    "ConfigError",
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


AUTO_HISTORY_TARGETS = 4
"""``history_targets = "auto"`` on data of at most `AUTO_HISTORY_MAX_USERS` users."""
AUTO_HISTORY_MAX_USERS = 50_000
"""Above this many users ``auto`` keeps 2 history targets (the item table's memory), and the
``auto`` model parameters are the seed's (`AUTO_MODEL_PARAMS`)."""
AUTO_MODEL_PARAMS: dict[str, tuple[float, float]] = {
    "max_depth": (4, 8),
    "eta": (0.06, 0.1),
    "colsample_bytree": (0.6, 0.4),
    "reg_lambda": (10.0, 1.0),
}
"""``model.X = "auto"``: (the value up to `AUTO_HISTORY_MAX_USERS` users, the value above).

Above: the seed's parameters, tuned for full-scale Instacart. Up to: shallower, slower and
more regularised trees, which both real data sets (2,438 and 592 users) score better with
(benchmarks/README.md, "Small-data model parameters"). Both tuning searches there chose
depth 4 and eta near 0.06; the four values were fixed before that measurement.
"""


@dataclass(frozen=True)
class FeatureConfig:
    """Candidates and features.

    The old switch ``context_features = false`` (before feature families)
    still reads, with a `FutureWarning`, as ``exclude = ["context"]``;
    ``context_features = true`` is the default and is dropped with the same
    warning. Write ``exclude`` instead: the old key will be removed.
    """

    history_targets: int | str = "auto"
    """Extra training targets per user taken from the history (its last k prior orders), or
    ``"auto"``: `AUTO_HISTORY_TARGETS` up to `AUTO_HISTORY_MAX_USERS` users, 2 above.
    A run resolves ``auto`` against its data before anything else (`resolved`)."""
    exclude: tuple[str, ...] = ()
    """Feature families switched off by name (see `basketcast.features.REGISTRY`), e.g.
    ["context"] when the target order's own day/hour/gap is not known before it is placed."""
    include: tuple[str, ...] = ()
    """Opt-in feature families switched on by name (those with ``default_on=False`` in
    `basketcast.features.REGISTRY`, e.g. ["item_pattern", "day_gap"])."""
    gpu_engine: bool = False
    """Build features with Polars' GPU engine (cuDF, the `gpu` extra); falls back to the CPU engine."""

    def __post_init__(self) -> None:
        targets = self.history_targets
        if targets != "auto" and not (isinstance(targets, int) and 0 <= targets <= 10):
            shown = json.dumps(targets) if isinstance(targets, str) else targets
            raise ConfigError(f'features.history_targets must be in 0..10 or "auto", got {shown}')
        for key in ("exclude", "include"):
            names = getattr(self, key)
            if isinstance(names, str) or not all(isinstance(n, str) for n in names):
                raise ConfigError(
                    f'features.{key} must be a list of family names, e.g. ["context"]; '
                    f"got {names!r}"
                )
            # Sorted and unique: the same families switched give the same stage fingerprint.
            object.__setattr__(self, key, tuple(sorted(set(names))))

    @property
    def targets(self) -> int:
        """The number of history targets; ``auto`` must have been resolved (`resolved`)."""
        if not isinstance(self.history_targets, int):
            raise TypeError('features.history_targets = "auto" is resolved against the data first')
        return self.history_targets

    def resolved(self, *, users: int) -> FeatureConfig:
        """This configuration with ``history_targets = "auto"`` replaced by its number for `users`.

        More history targets add training rows per user, which helps small data (The
        Complete Journey and the Instacart sample both gain from 4 over 1-3:
        benchmarks/README.md, "Accuracy ablation") but multiplies the item table, which
        does not fit at full scale: 206k Instacart users with 2 targets peak at 10.65 GiB.
        """
        if self.history_targets != "auto":
            return self
        targets = AUTO_HISTORY_TARGETS if users <= AUTO_HISTORY_MAX_USERS else 2
        return dataclasses.replace(self, history_targets=targets)

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
    """XGBoost item and None models: the seed's parameters on large data, and on data up to
    `AUTO_HISTORY_MAX_USERS` users shallower, more regularised trees (the ``"auto"`` ones)."""

    folds: int = 5
    train_folds: tuple[int, ...] = ()
    """Which folds to train (empty = all). One fold gives a quick run, as in the seed's own code."""
    max_depth: int | str = "auto"
    """A number, or ``"auto"``: 4 up to `AUTO_HISTORY_MAX_USERS` users, the seed's 8 above
    (`AUTO_MODEL_PARAMS`; ``eta``, ``colsample_bytree`` and ``reg_lambda`` likewise)."""
    eta: float | str = "auto"
    colsample_bytree: float | str = "auto"
    subsample: float = 0.75
    min_child_weight: float = 1.0
    reg_lambda: float | str = "auto"
    reg_alpha: float = 0.0
    max_bin: int = 256
    num_boost_round: int = 1000
    early_stopping_rounds: int = 30
    none_model: bool = True
    stack_none: bool = False
    """The None model also reads the item model's out-of-fold probabilities (sum, max, mean,
    prod(1 - p)); off by default: on the Instacart sample it did not help (benchmarks/README)."""
    bagging: int = 1
    """Models per fold, with seeds derived from the run's seed, averaged (in log-odds) into one
    booster per fold; 1 trains the single model of an unbagged run (`basketcast.model.bagging`)."""
    device: Device = Device.AUTO
    seed: int = field(default=0, metadata={"derived": True})
    """Not a key of its own: always the run's top-level `seed` (set by `RunConfig`)."""

    def __post_init__(self) -> None:
        if not 2 <= self.folds <= MAX_FOLDS:
            raise ConfigError(f"model.folds must be in 2..{MAX_FOLDS}, got {self.folds}")
        bad = [f for f in self.train_folds if not 0 <= f < self.folds]
        if bad:
            raise ConfigError(f"model.train_folds must lie in 0..{self.folds - 1}, got {bad}")
        for name in AUTO_MODEL_PARAMS:
            value = getattr(self, name)
            if isinstance(value, str) and value != "auto":
                raise ConfigError(f'model.{name} must be a number or "auto", got "{value}"')
        for name in ("eta", "colsample_bytree", "subsample"):
            value = getattr(self, name)
            if value != "auto" and not 0 < value <= 1:
                raise ConfigError(f"model.{name} must be in (0, 1], got {value}")
        for name in ("max_depth", "num_boost_round", "early_stopping_rounds"):
            value = getattr(self, name)
            if value != "auto" and value < 1:
                raise ConfigError(f"model.{name} must be at least 1, got {value}")
        if self.max_bin < 2:
            raise ConfigError(f"model.max_bin must be at least 2, got {self.max_bin}")
        if not 1 <= self.bagging <= 20:
            raise ConfigError(f"model.bagging must be in 1..20, got {self.bagging}")
        for name in ("min_child_weight", "reg_lambda"):
            value = getattr(self, name)
            if value != "auto" and value < 0:
                raise ConfigError(f"model.{name} must be at least 0, got {value}")

    @property
    def folds_to_train(self) -> tuple[int, ...]:
        return self.train_folds or tuple(range(self.folds))

    @property
    def is_resolved(self) -> bool:
        return all(getattr(self, name) != "auto" for name in AUTO_MODEL_PARAMS)

    def resolved(self, *, users: int) -> ModelConfig:
        """This configuration with every ``"auto"`` parameter replaced by its number for `users`."""
        values: dict[str, float] = {}
        for name, (small_data, large_data) in AUTO_MODEL_PARAMS.items():
            if getattr(self, name) == "auto":
                value = small_data if users <= AUTO_HISTORY_MAX_USERS else large_data
                values[name] = int(value) if name == "max_depth" else float(value)
        return dataclasses.replace(self, **values) if values else self  # type: ignore[arg-type]


class PNone(enum.StrEnum):
    """Where a basket's p(None) comes from (`basket.p_none`)."""

    AUTO = "auto"
    """Whichever of the three below gives the best out-of-fold F1 on the run's own train orders."""
    MODEL = "model"
    """The None model's p (stacked on the item model's probabilities with `model.stack_none`)."""
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
        # A TOML value is checked by `check_value`; this catches a wrong one given in code.
        try:
            object.__setattr__(self, "p_none", PNone(self.p_none))
        except ValueError:
            choices = ", ".join(v.value for v in PNone)
            raise ConfigError(
                f"basket.p_none must be one of {choices}, got {self.p_none!r}"
            ) from None

    @staticmethod
    def upgrade(values: dict[str, Any]) -> dict[str, Any]:
        """Map the deprecated ``use_none_model`` key of a [basket] table onto ``p_none``."""
        if "use_none_model" not in values:
            return values
        values = dict(values)
        on = check_value(values.pop("use_none_model"), "bool", "basket.use_none_model", {})
        if "p_none" in values:
            raise ConfigError(
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
class ClusterConfig:
    """Where a run computes: this process (the default), or a Dask cluster (the `dask` extra)."""

    address: str = ""
    """"" = this process, no Dask; "local:N" = a LocalCluster of N worker processes started
    for the run; "tcp://HOST:PORT" = an existing scheduler."""
    shards: int = 0
    """User shards (hash-partitioned Parquet); 0 = four per worker."""
    threads_per_worker: int = 0
    """For local:N; 0 = split the cores: cores // N each, at least 1."""
    memory_limit: str = "auto"
    """For local:N, per worker ("4GiB", ...); "auto" = the machine's memory / N."""

    def __post_init__(self) -> None:
        address = self.address
        if address and not (address.startswith(("local:", "tcp://", "tls://", "ucx://"))):
            raise ConfigError(
                f"cluster.address must be empty, local:N or tcp://HOST:PORT, got {address!r}"
            )
        if address.startswith("local:"):
            count = address.removeprefix("local:")
            if not count.isdigit() or int(count) < 1:
                raise ConfigError(f"cluster.address local:N needs N >= 1, got {address!r}")
        if self.shards < 0 or self.threads_per_worker < 0:
            raise ConfigError("cluster.shards and cluster.threads_per_worker must be >= 0")


@dataclass(frozen=True)
class RunConfig:
    """The whole run."""

    seed: int = 0
    """The one seed: folds, XGBoost's sampling and the bootstrap intervals."""
    threads: int = 0
    """Threads for XGBoost, Numba and (from the `basketcast` command) Polars; 0 = all cores."""
    features: FeatureConfig = field(default_factory=FeatureConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    basket: BasketConfig = field(default_factory=BasketConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ConfigError(f"seed must be at least 0, got {self.seed}")
        if self.threads < 0:
            raise ConfigError(f"threads must be at least 0 (0 = all cores), got {self.threads}")
        if self.model.seed != self.seed:  # one seed: the model stage takes the run's
            object.__setattr__(self, "model", dataclasses.replace(self.model, seed=self.seed))

    def resolved(self, *, users: int) -> RunConfig:
        """This configuration with every ``auto`` that depends on the data's size decided."""
        return dataclasses.replace(
            self,
            features=self.features.resolved(users=users),
            model=self.model.resolved(users=users),
        )

    def to_dict(self) -> dict[str, Any]:
        data = _plain(dataclasses.asdict(self))
        data["model"].pop("seed", None)  # derived from the top-level seed, not a key
        return data

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
    def from_dict(cls, data: dict[str, Any], *, source: str = "configuration") -> RunConfig:
        """Build from plain values, checking every key's type and range first.

        Raises
        ------
        ConfigError
            Naming `source` and the key: unknown keys or sections, wrong types,
            values out of range.
        """
        return _build(cls, data, "", source)


MAX_FOLDS = 100


def load_config(path: str | Path | None = None, **overrides: Any) -> RunConfig:
    """Read a TOML file (or nothing: defaults) and apply `section.key` overrides.

    Raises
    ------
    ConfigError
        The file is missing, not a file, not TOML, or a key is unknown, of the
        wrong type or out of range; raised before anything else happens.
    """
    data: dict[str, Any] = {}
    source = "configuration"
    if path is not None:
        path = Path(path)
        source = str(path)
        if not path.exists():
            raise ConfigError(f"{path}: no such configuration file")
        if not path.is_file():
            raise ConfigError(f"{path}: not a readable file (a TOML configuration file is needed)")
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot be read ({exc})") from None
    for dotted, value in overrides.items():
        if value is None:
            continue
        *parents, key = dotted.split(".")
        node = data
        for p in parents:
            node = node.setdefault(p, {})
        node[key] = value
    return RunConfig.from_dict(data, source=source)


def _build(klass: type, values: Any, section: str, source: str) -> Any:
    where = f"[{section}]" if section else "the top level"
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: [{section}] must be a section (a table), got {values!r}")
    try:  # the deprecated keys: features.context_features, basket.use_none_model
        if klass is FeatureConfig:
            values = FeatureConfig.upgrade(values)
        elif klass is BasketConfig:
            values = BasketConfig.upgrade(values)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    fields = {f.name: f for f in dataclasses.fields(klass) if not f.metadata.get("derived")}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        hint = ""
        if section == "model" and "seed" in unknown:
            hint = (
                "; model.seed was merged into the top-level `seed` (write `seed = N` above [model])"
            )
        raise ConfigError(
            f"{source}: unknown key(s) {unknown} in {where}; known: {sorted(fields)}{hint}"
        )
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        kind = str(fields[name].type)
        key = f"{section}.{name}" if section else name
        if kind in _SECTION_TYPES:
            kwargs[name] = _build(_SECTION_TYPES[kind], value, name, source)
        else:
            kwargs[name] = check_value(value, kind, f"{source}: {key}", _ENUM_TYPES)
    try:
        return klass(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


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


_ENUM_TYPES: dict[str, type[enum.StrEnum]] = {"Device": Device, "PNone": PNone}
"""Enum-typed keys by the annotation's text: a value must be one of the members' values."""

_SECTION_TYPES: dict[str, type] = {
    "FeatureConfig": FeatureConfig,
    "ModelConfig": ModelConfig,
    "BasketConfig": BasketConfig,
    "ClusterConfig": ClusterConfig,
}
