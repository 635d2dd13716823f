"""A small synthetic data folder and a fast base configuration for the tuning tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from basketcast.config import load_config
from basketcast.data.sources.synthetic import synthetic, write_synthetic
from basketcast.tune import SearchSpace, load_space

BASE = {
    "threads": 1,
    "features.history_targets": 0,
    "model.folds": 3,
    "model.num_boost_round": 100,
    "model.early_stopping_rounds": 5,
    "model.none_model": False,
    "model.device": "cpu",
}

SPACE_TOML = """
[space]
max_depth = { low = 1, high = 6 }
min_child_weight = { low = 0.5, high = 20.0 }
max_bin = { choices = [64, 128] }
history_targets = 0
"""


@pytest.fixture(scope="session")
def tune_data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tune_data")
    write_synthetic(synthetic(150, seed=11), folder, format="parquet")
    return folder


@pytest.fixture(scope="session")
def base_config():
    return load_config(**BASE)


@pytest.fixture(scope="session")
def space(tmp_path_factory) -> SearchSpace:
    path = tmp_path_factory.mktemp("space") / "space.toml"
    path.write_text(SPACE_TOML)
    return load_space(path)
