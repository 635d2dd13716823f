"""A booster's trees as flat arrays, walked by compiled code: XGBoost's answers without its fixed cost.

A request scores a few dozen rows. XGBoost's `inplace_predict` spends about
0.55 ms per call before it reads a row (0.58 ms for one row, 0.85 ms for sixty;
the full-scale run's 83-tree booster, XGBoost 3.2, one thread), which was a
quarter of the service's CPU under load. Walking the same trees in a Numba
loop costs ~9 µs for one row and ~0.3 ms for sixty.

The walk is XGBoost's own rule: at a split on feature f with threshold c, a
missing value (NaN) goes to the default child, ``x < c`` goes left, anything
else right; a row's margin is the float32 sum of its leaves, tree by tree,
from the base margin; ``binary:logistic`` maps it through the float32
sigmoid. Only what this rule covers is compiled: one-target ``gbtree``
boosters with numeric splits and a logistic objective. `CompiledForest.of`
returns None for anything else, and also when its answers differ from the
booster's on a probe built from the booster's own thresholds, so a caller
falls back to `inplace_predict` instead of scoring differently.
"""

from __future__ import annotations

import json

import numpy as np
import xgboost as xgb
from numba import njit

__all__ = ["CompiledForest"]

_DEFAULT_LEFT = np.int32(1 << 30)  # a bit above any feature index, set when missing goes left
_FEATURE = np.int32(_DEFAULT_LEFT - 1)
_OBJECTIVES = ("binary:logistic",)


@njit(cache=True, nogil=True)
def _margins(
    matrix: np.ndarray, starts: np.ndarray, nodes: np.ndarray, values: np.ndarray, base: np.float32
) -> np.ndarray:  # pragma: no cover - compiled; checked against XGBoost in tests/serve
    # Tree by tree (not row by row), so one tree's nodes stay in cache across the rows.
    # nodes[k] = (left, right, feature | default-left bit); values[k]: threshold or leaf value.
    out = np.full(matrix.shape[0], base, dtype=np.float32)
    for t in range(starts.size - 1):
        root = starts[t]
        for i in range(matrix.shape[0]):
            k = root
            while nodes[k, 0] != -1:
                split = nodes[k, 2]
                x = matrix[i, split & _FEATURE]
                if x < values[k]:
                    k = root + nodes[k, 0]
                elif x >= values[k]:
                    k = root + nodes[k, 1]
                elif split & _DEFAULT_LEFT:  # NaN: neither comparison holds
                    k = root + nodes[k, 0]
                else:
                    k = root + nodes[k, 1]
            out[i] += values[k]
    return out


@njit(cache=True, nogil=True)
def _sigmoid(margins: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    # float32 throughout, as XGBoost's 1.0f / (1.0f + expf(-x))
    out = np.empty_like(margins)
    one = np.float32(1.0)
    for i in range(margins.size):
        out[i] = one / (one + np.exp(-margins[i]))
    return out


class CompiledForest:
    """One booster's trees in flat arrays (see the module docstring for what is covered)."""

    def __init__(
        self, starts: np.ndarray, nodes: np.ndarray, values: np.ndarray, base: float, features: int
    ) -> None:
        self.starts = starts
        self.nodes = nodes
        self.values = values
        self.base = np.float32(base)
        self.features = features

    @classmethod
    def of(cls, booster: xgb.Booster) -> CompiledForest | None:
        """The booster's forest, or None where it is not covered or does not match the booster."""
        model = json.loads(booster.save_raw("json"))["learner"]
        gbm = model["gradient_booster"]
        params = model["learner_model_param"]
        if (
            gbm.get("name") != "gbtree"
            or model["objective"]["name"] not in _OBJECTIVES
            or int(params.get("num_target", "1")) != 1
            or int(params.get("num_class", "0")) != 0
        ):
            return None
        trees = gbm["model"]["trees"]
        if not trees or any(any(t["split_type"]) or t["categories"] for t in trees):
            return None  # no trees to speak of, or categorical splits
        base_score = json.loads(params["base_score"])  # "[5E-1]" in XGBoost 3.1+, "5E-1" before
        base_score = np.float32(base_score[0] if isinstance(base_score, list) else base_score)
        one = np.float32(1.0)
        # XGBoost's ProbToMargin: -logf(1.0f / base - 1.0f). NumPy's float32 log can be an
        # ulp off glibc's logf; the float64 log rounded to float32 is logf's correct rounding.
        base = np.float32(-np.log(np.float64(one / base_score - one)))
        forest = cls(*_flatten(trees), float(base), int(params["num_feature"]))
        return forest if forest._agrees_with(booster) else None

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        """p for a float32 C-contiguous matrix of the booster's features (NaN: missing)."""
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[1] != self.features:
            raise ValueError(f"expected a matrix of {self.features} columns, got {matrix.shape}")
        return _sigmoid(self.margins(matrix))

    def margins(self, matrix: np.ndarray) -> np.ndarray:
        return _margins(matrix, self.starts, self.nodes, self.values, self.base)

    def _agrees_with(self, booster: xgb.Booster) -> bool:
        # Rows at, just below and just above every threshold, and missing values, so that
        # both sides and the default of every split are taken somewhere in the probe.
        probe = _probe(self, np.random.default_rng(0))
        expected = booster.inplace_predict(probe, missing=np.nan, predict_type="margin")
        return bool(np.array_equal(self.margins(probe), expected.astype(np.float32)))


def _flatten(trees: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tree start offsets, nodes (left, right, feature | default-left), values) of all trees."""
    sizes = [len(t["left_children"]) for t in trees]
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

    def column(key: str, dtype: type) -> np.ndarray:
        return np.concatenate([np.asarray(t[key], dtype=dtype) for t in trees])

    split = column("split_indices", np.int32)
    if split.size and split.max() >= _DEFAULT_LEFT:
        raise ValueError("a feature index too large for the packed node layout")
    default_left = column("default_left", np.int32).astype(bool)
    nodes = np.stack(
        [
            column("left_children", np.int32),
            column("right_children", np.int32),
            np.where(default_left, split | _DEFAULT_LEFT, split).astype(np.int32),
        ],
        axis=1,
    )
    # A leaf keeps its value where a split keeps its threshold (XGBoost's own layout).
    return starts, np.ascontiguousarray(nodes), column("split_conditions", np.float32)


def _probe(forest: CompiledForest, rng: np.random.Generator) -> np.ndarray:
    inner = forest.nodes[:, 0] != -1
    features = forest.nodes[inner, 2] & _FEATURE
    thresholds = forest.values[inner]
    rows = 256
    probe = np.full((rows, forest.features), np.nan, dtype=np.float32)
    for f in range(forest.features):
        cuts = thresholds[features == f]
        if cuts.size == 0:
            continue
        picked = rng.choice(cuts, size=rows)
        shift = rng.integers(-1, 2, size=rows)  # below, at, above the threshold
        values = np.where(
            shift < 0,
            np.nextafter(picked, np.float32(-np.inf)),
            np.where(shift > 0, np.nextafter(picked, np.float32(np.inf)), picked),
        )
        missing = rng.random(rows) < 0.15
        probe[:, f] = np.where(missing, np.float32(np.nan), values)
    return probe
