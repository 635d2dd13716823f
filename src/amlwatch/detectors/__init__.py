"""Detectors: one contract (`Detector`), several implementations, and a registry by kind.

`DETECTORS` maps a kind (the `kind` of a `[[detector]]` table in a run's
config) to a factory `(params, seed) -> Detector`. Part 2 registers "gan"
with `register_detector`; `amlwatch run` then accepts it in its config.
A kind registered with the parameters it `accepts` rejects any other (a
misspelt parameter would otherwise fall back to its default in silence);
`detector_problems` lists every such problem of a config at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from amlwatch.detectors.base import Detector, NotFittedError
from amlwatch.features.registry import feature_names

if TYPE_CHECKING:
    from amlwatch.config import DetectorSpec

__all__ = [
    "DETECTORS",
    "Detector",
    "NotFittedError",
    "default_families",
    "detector_problems",
    "make_detector",
    "register_detector",
]

Factory = Callable[[dict[str, Any], int], Detector]
DETECTORS: dict[str, Factory] = {}
ACCEPTS: dict[str, frozenset[str]] = {}  # kind -> the parameters it reads (absent: unchecked)
FAMILIES_READ: dict[str, tuple[str, ...]] = {}  # kind -> families it reads when params name none


def register_detector(
    kind: str,
    factory: Factory,
    *,
    accepts: Iterable[str] | None = None,
    families: Iterable[str] = (),
) -> None:
    """Make a detector kind available to run configs (`accepts`: its parameters' names;
    `families`: the feature families it reads when its params name none, beyond the
    streamable ones every run builds)."""
    DETECTORS[kind] = factory
    FAMILIES_READ[kind] = tuple(families)
    if accepts is None:
        ACCEPTS.pop(kind, None)
    else:
        ACCEPTS[kind] = frozenset(accepts)


def default_families(kind: str) -> list[str]:
    """The feature families a kind reads when its params name none."""
    return list(FAMILIES_READ.get(kind, ()))


def detector_problems(specs: Iterable[DetectorSpec]) -> list[str]:
    """Every unknown kind and unknown parameter among `specs`, one message each."""
    problems = []
    for spec in specs:
        if spec.kind not in DETECTORS:
            problems.append(
                f"detector {spec.name!r}: unknown detector kind {spec.kind!r}; "
                f"known: {sorted(DETECTORS)}"
            )
            continue
        accepted = ACCEPTS.get(spec.kind)
        unknown = [] if accepted is None else sorted(set(spec.params) - accepted)
        if unknown:
            problems.append(
                f"detector {spec.name!r} (kind {spec.kind!r}): {len(unknown)} unknown "
                f"parameter(s) {unknown}; it accepts {sorted(accepted or ())}"
            )
    return problems


def _columns(params: dict[str, Any]) -> list[str]:
    """Feature columns from `families` (default: the streamable ones) or an explicit `columns`."""
    if "columns" in params:
        return list(params["columns"])
    families = params.get("families")
    return feature_names(streamable_only=families is None, families=families)


def _rules(params: dict[str, Any], seed: int) -> Detector:
    from amlwatch.detectors.rules import RulesDetector

    return RulesDetector(path=params.get("path"))


def _iforest(params: dict[str, Any], seed: int) -> Detector:
    from amlwatch.detectors.iforest import IsolationForestDetector

    extra = {k: params[k] for k in ("n_estimators", "max_samples") if k in params}
    return IsolationForestDetector(columns=_columns(params), seed=seed, **extra)


def _xgboost(params: dict[str, Any], seed: int) -> Detector:
    from amlwatch.detectors.xgb import XGBoostDetector

    return XGBoostDetector(
        columns=_columns(params),
        rounds=int(params.get("rounds", 200)),
        params=params.get("params"),
        seed=seed,
    )


# The graph row's families: what stage 1 of the propagated detector reads by default.
GRAPH_FAMILIES = ["transaction", "account", "pair", "graph", "flow"]


def _bagged(params: dict[str, Any], seed: int) -> Detector:
    from amlwatch.detectors.bagged import BaggedXGBoostDetector

    return BaggedXGBoostDetector(
        columns=_columns(params),
        rounds=int(params.get("rounds", 200)),
        params=params.get("params"),
        seed=seed,
        bags=int(params.get("bags", 5)),
    )


_XGBOOST = ("columns", "families", "rounds", "params")
_PROPAGATION = (
    "folds",
    "window_days",
    "high_quantile",
    "hops",
    "own_score",
    "purge_days",
    "levels",
)


def _propagated(params: dict[str, Any], seed: int) -> Detector:
    from amlwatch.detectors.propagate import PropagatedXGBoostDetector

    given = {"columns", "families"} & set(params)
    columns = _columns(params) if given else feature_names(families=GRAPH_FAMILIES)
    extra = {k: params[k] for k in _PROPAGATION if k in params}
    return PropagatedXGBoostDetector(
        columns=columns,
        rounds=int(params.get("rounds", 200)),
        params=params.get("params"),
        seed=seed,
        **extra,
    )


def _gan_kind(kind: str) -> Factory:
    # Part 2's GAN kinds, imported only when asked for (PyTorch is the `gan` extra).
    def factory(params: dict[str, Any], seed: int) -> Detector:
        from amlwatch.gan.combine import FACTORIES

        return FACTORIES[kind](params, seed)

    return factory


register_detector("rules", _rules, accepts=["path"])
register_detector(
    "iforest", _iforest, accepts=["columns", "families", "n_estimators", "max_samples"]
)
register_detector("xgboost", _xgboost, accepts=_XGBOOST)
register_detector("xgboost_bagged", _bagged, accepts=[*_XGBOOST, "bags"])
register_detector(
    "xgboost_propagated",
    _propagated,
    accepts=[*_XGBOOST, *_PROPAGATION],
    families=GRAPH_FAMILIES,
)
_GAN = ("gan", "columns", "categorical")
register_detector("gan", _gan_kind("gan"), accepts=_GAN)
register_detector("gan_or_rules", _gan_kind("gan_or_rules"), accepts=[*_GAN, "rules"])
register_detector(
    "xgboost_gan", _gan_kind("xgboost_gan"), accepts=[*_GAN, "xgb_columns", "rounds", "params"]
)


def make_detector(kind: str, params: dict[str, Any] | None = None, *, seed: int = 0) -> Detector:
    """Build a registered detector kind."""
    from amlwatch.config import DetectorSpec

    problems = detector_problems([DetectorSpec(kind, kind, dict(params or {}))])
    if problems:
        raise ValueError(problems[0])
    return DETECTORS[kind](dict(params or {}), seed)
