"""Configuration: defaults, TOML round trip, validation in one place, the packaged demo file, the CLI."""

from __future__ import annotations

import tomllib
from importlib.resources import files

import pytest
from typer.testing import CliRunner

from basketcast.cli import app
from basketcast.config import (
    AUTO_HISTORY_MAX_USERS,
    AUTO_HISTORY_TARGETS,
    AUTO_MODEL_PARAMS,
    Device,
    RunConfig,
    load_config,
)
from basketcast.model.train import xgb_params


def test_toml_round_trip_keeps_every_knob(tmp_path):
    config = load_config(
        **{
            "model.train_folds": [0, 2],
            "model.device": "cpu",
            "features.history_targets": 3,
            "features.include": ["day_gap"],
            "model.stack_none": True,
            "basket.p_none": "blend",
        }
    )
    path = tmp_path / "config.toml"
    path.write_text(config.to_toml())
    again = load_config(path)
    assert again == config
    assert again.model.device is Device.CPU and again.model.folds_to_train == (0, 2)
    assert set(tomllib.loads(config.to_toml())) == {
        "seed",
        "threads",
        "features",
        "model",
        "basket",
        "cluster",
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"model.folds": 1}, "folds"),
        ({"model.train_folds": [5]}, "train_folds"),
        ({"model.eta": 0.0}, "eta"),
        ({"features.history_targets": -1}, "history_targets"),
        ({"features.history_targets": 11}, r"history_targets must be in 0\.\.10 or \"auto\""),
        ({"features.history_targets": "many"}, r'history_targets must be a whole number or "auto"'),
        ({"features.history_targets": True}, r'history_targets must be a whole number or "auto"'),
        ({"model.colour": "red"}, "colour"),
        ({"colour": "red"}, "colour"),
        ({"model.device": "tpu"}, "tpu"),
        ({"basket.p_none": "sometimes"}, r"basket\.p_none must be one of auto, model"),
        ({"basket.p_none": True}, r"basket\.p_none must be one of"),
        ({"basket.use_none_model": "yes"}, r"basket\.use_none_model must be true or false"),
        ({"model.stack_none": 1}, r"model\.stack_none must be true or false"),
        ({"features.include": "day_gap"}, r"features\.include must be a list of strings"),
        ({"features.include": [1]}, r"features\.include must be a list of strings"),
    ],
)
def test_bad_values_are_refused_with_their_name(overrides, message):
    with pytest.raises(ValueError, match=message):
        load_config(**overrides)


def test_auto_history_targets_follow_the_number_of_users(tmp_path):
    config = RunConfig()
    assert config.features.history_targets == "auto"
    with pytest.raises(TypeError, match="resolved against the data"):
        _ = config.features.targets
    small = config.resolved(users=AUTO_HISTORY_MAX_USERS)
    large = config.resolved(users=AUTO_HISTORY_MAX_USERS + 1)
    assert (small.features.targets, large.features.targets) == (AUTO_HISTORY_TARGETS, 2)
    assert small.basket == config.basket
    assert small.stage_hash("features") != large.stage_hash("features")
    # A number is kept whatever the data's size, and a resolved file reads back as itself.
    fixed = load_config(**{"features.history_targets": 1})
    assert fixed.resolved(users=10).features.targets == 1
    path = tmp_path / "config.toml"
    path.write_text(small.to_toml())
    assert load_config(path) == small


def test_auto_model_parameters_follow_the_number_of_users(tmp_path):
    config = RunConfig()
    assert all(getattr(config.model, k) == "auto" for k in AUTO_MODEL_PARAMS)
    assert not config.model.is_resolved
    with pytest.raises(TypeError, match="resolved against the data"):
        xgb_params(config.model)
    small = config.resolved(users=AUTO_HISTORY_MAX_USERS).model
    large = config.resolved(users=AUTO_HISTORY_MAX_USERS + 1).model
    # Small data: shallower, slower, more regularised trees; large data: the seed's.
    assert (small.max_depth, small.eta, small.colsample_bytree, small.reg_lambda) == (
        4,
        0.06,
        0.6,
        10.0,
    )
    assert (large.max_depth, large.eta, large.colsample_bytree, large.reg_lambda) == (
        8,
        0.1,
        0.4,
        1.0,
    )
    assert isinstance(small.max_depth, int) and small.is_resolved and large.is_resolved
    assert xgb_params(small)["max_depth"] == 4 and xgb_params(large)["learning_rate"] == 0.1
    # A number is kept whatever the data's size; "auto" and numbers read back from TOML.
    fixed = load_config(**{"model.max_depth": 6, "model.eta": 0.2})
    assert (fixed.resolved(users=10).model.max_depth, fixed.resolved(users=10).model.eta) == (
        6,
        0.2,
    )
    assert fixed.resolved(users=10).model.reg_lambda == 10.0  # the others still follow auto
    path = tmp_path / "config.toml"
    path.write_text(config.to_toml())
    assert 'max_depth = "auto"' in path.read_text() and load_config(path) == config
    path.write_text(config.resolved(users=100).to_toml())
    assert load_config(path) == config.resolved(users=100)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"model.max_depth": "deep"}, r'model\.max_depth must be a whole number or "auto"'),
        ({"model.eta": "fast"}, r'model\.eta must be a number or "auto"'),
        ({"model.eta": 0}, r"model\.eta must be in \(0, 1\]"),
        ({"model.reg_lambda": -1}, r"model\.reg_lambda must be at least 0"),
        ({"model.max_depth": 0}, r"model\.max_depth must be at least 1"),
    ],
)
def test_auto_model_parameters_refuse_other_words_and_bad_numbers(overrides, message):
    with pytest.raises(ValueError, match=message):
        load_config(**overrides)


def test_stage_hash_changes_only_with_its_section():
    base = RunConfig()
    deeper = load_config(**{"model.max_depth": 4})
    assert base.stage_hash("features") == deeper.stage_hash("features")
    assert base.stage_hash("model") != deeper.stage_hash("model")


def test_packaged_demo_configuration_parses():
    config = load_config(files("basketcast") / "configs" / "demo.toml")
    assert config.model.folds == 3 and config.features.history_targets == 1
    assert config.model.max_depth == RunConfig().model.max_depth


def test_config_command_prints_a_loadable_file(tmp_path):
    result = CliRunner().invoke(app, ["config"])
    assert result.exit_code == 0, result.output
    path = tmp_path / "c.toml"
    path.write_text(result.output)
    assert load_config(path) == RunConfig()


def test_the_thread_budget_is_set_before_polars_starts():
    """Importing the package must leave Polars unloaded, so its pool can still be sized."""
    import subprocess
    import sys

    code = (
        "import sys; from basketcast.device import set_thread_budget; "
        "assert 'polars' not in sys.modules; set_thread_budget(1); "
        "import polars; print(polars.thread_pool_size())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in __import__("os").environ.items() if k != "POLARS_MAX_THREADS"},
    )
    assert out.stdout.strip() == "1"
