"""Detectors: one contract (`Detector`), several implementations, and a registry by kind.

`DETECTORS` maps a kind (the `kind` of a `[[detector]]` table in a run's
config) to a factory `(params, seed) -> Detector`. Part 2 registers "gan"
with `register_detector`; `amlwatch run` then accepts it in its config.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from amlwatch.detectors.base import Detector, NotFittedError
from amlwatch.features.registry import feature_names

__all__ = ["DETECTORS", "Detector", "NotFittedError", "make_detector", "register_detector"]

Factory = Callable[[dict[str, Any], int], Detector]
DETECTORS: dict[str, Factory] = {}


def register_detector(kind: str, factory: Factory) -> None:
    """Make a detector kind available to run configs."""
    DETECTORS[kind] = factory


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


def _propagated(params: dict[str, Any], seed: int) -> Detector:
    from amlwatch.detectors.propagate import PropagatedXGBoostDetector

    given = {"columns", "families"} & set(params)
    columns = _columns(params) if given else feature_names(families=GRAPH_FAMILIES)
    extra = {
        k: params[k]
        for k in ("folds", "window_days", "high_quantile", "hops", "own_score")
        if k in params
    }
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


register_detector("rules", _rules)
register_detector("iforest", _iforest)
register_detector("xgboost", _xgboost)
register_detector("xgboost_bagged", _bagged)
register_detector("xgboost_propagated", _propagated)
for _kind in ("gan", "gan_or_rules", "xgboost_gan"):
    register_detector(_kind, _gan_kind(_kind))


def make_detector(kind: str, params: dict[str, Any] | None = None, *, seed: int = 0) -> Detector:
    """Build a registered detector kind."""
    if kind not in DETECTORS:
        raise ValueError(f"unknown detector kind {kind!r}; known: {sorted(DETECTORS)}")
    return DETECTORS[kind](dict(params or {}), seed)
