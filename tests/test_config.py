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
    Device,
    RunConfig,
    load_config,
)


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
    assert small.model == config.model and small.basket == config.basket
    assert small.stage_hash("features") != large.stage_hash("features")
    # A number is kept whatever the data's size, and a resolved file reads back as itself.
    fixed = load_config(**{"features.history_targets": 1})
    assert fixed.resolved(users=10).features.targets == 1
    path = tmp_path / "config.toml"
    path.write_text(small.to_toml())
    assert load_config(path) == small


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
