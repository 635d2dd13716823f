"""Bagging (`model.bagging = N`): N boosters per fold with derived seeds, averaged into one.

The members differ only in their seed (row and column subsampling); member 0
has the run's own seed, so ``N = 1`` trains exactly the model it always did.
The members are merged into **one** booster whose margin (log-odds) is the
mean of theirs: every tree of every member, with its leaf values scaled by
1/N. So a fold still has one model file, and everything that loads, predicts
with, explains or serves a fold's model works unchanged. (The mean is of
log-odds, not of probabilities: the two differ by well under the members'
own spread, and only the first keeps one booster per fold.)
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import xgboost as xgb

__all__ = ["average_boosters", "member_seed"]


def member_seed(seed: int, member: int) -> int:
    """The seed of bag member ``member`` in a run with seed ``seed`` (member 0: ``seed`` itself)."""
    if member == 0:
        return seed
    state = np.random.SeedSequence([seed, member]).generate_state(1, dtype=np.uint32)
    return int(state[0] & 0x7FFFFFFF)  # XGBoost's seed is a signed 32-bit int


def _base_margin(model: dict[str, Any]) -> float:
    """The learner's base score as a margin (binary:logistic keeps it as a probability)."""
    text = model["learner"]["learner_model_param"]["base_score"]
    p = float(str(text).strip("[]"))
    return math.log(p / (1.0 - p))


def average_boosters(members: Sequence[xgb.Booster]) -> xgb.Booster:
    """One booster whose margin is the mean of ``members``' margins (one member: itself).

    The members must share their objective, features and base score source
    (they are trained on the same rows); only binary:logistic and tree
    boosters without categorical splits are supported.
    """
    if len(members) == 1:
        return members[0]
    models = [json.loads(bytes(m.save_raw("json"))) for m in members]
    n = len(models)
    out = models[0]
    learner = out["learner"]
    if learner["objective"]["name"] != "binary:logistic":
        raise ValueError(f"bagging supports binary:logistic, not {learner['objective']['name']}")
    trees: list[dict[str, Any]] = []
    info: list[int] = []
    for model in models:
        booster = model["learner"]["gradient_booster"]["model"]
        if booster["gbtree_model_param"]["num_parallel_tree"] != "1":
            raise ValueError("bagging needs num_parallel_tree = 1")
        for tree in booster["trees"]:
            leaf = [left == -1 for left in tree["left_children"]]
            scaled = dict(tree)
            scaled["split_conditions"] = [
                v / n if is_leaf else v
                for v, is_leaf in zip(tree["split_conditions"], leaf, strict=True)
            ]
            scaled["base_weights"] = [v / n for v in tree["base_weights"]]
            scaled["id"] = len(trees)
            trees.append(scaled)
        info.extend(booster["tree_info"])
    margins = [_base_margin(m) for m in models]
    if len(set(margins)) > 1:  # members saw the same labels; differ only by rounding if at all
        mean = sum(margins) / n
        learner["learner_model_param"]["base_score"] = f"[{1.0 / (1.0 + math.exp(-mean))!r}]"
    merged = learner["gradient_booster"]["model"]
    merged["trees"] = trees
    merged["tree_info"] = info
    merged["iteration_indptr"] = list(range(len(trees) + 1))
    merged["gbtree_model_param"]["num_trees"] = str(len(trees))
    # Early stopping's attributes described member 0 alone; every tree now counts.
    learner["attributes"] = {"bagging": str(n)}
    return xgb.Booster(model_file=bytearray(json.dumps(out).encode()))
