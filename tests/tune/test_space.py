"""Trial 0 runs the configuration's defaults: which of them the space cannot hold, and instead what."""

from __future__ import annotations

from basketcast.config import load_config
from basketcast.tune._space import DEFAULT_SPACE


def test_defaults_outside_the_space_are_reported_with_what_trial_0_runs() -> None:
    # 5 history targets and max_bin 1024 lie outside the space, and so does the default
    # reg_alpha 0 (the space is logarithmic, from 1e-4).
    config = load_config(**{"features.history_targets": 5, "model.max_bin": 1024}).resolved(
        users=900
    )
    assert DEFAULT_SPACE.moved_defaults(config) == {
        "history_targets": (5, 4),
        "max_bin": (1024, 512),
        "reg_alpha": (0.0, 1e-4),
    }
    trial0 = DEFAULT_SPACE.defaults(config)
    assert trial0["history_targets"] == 4 and trial0["max_bin"] == 512
    assert trial0["max_depth"] == config.model.max_depth == 4  # inside (auto's, on 900 users): kept


def test_the_package_defaults_on_small_data_lie_inside_the_space_but_reg_alpha() -> None:
    config = load_config().resolved(users=900)  # history targets, depth, eta...: all "auto"
    assert config.features.history_targets == 4
    assert DEFAULT_SPACE.moved_defaults(config) == {"reg_alpha": (0.0, 1e-4)}


def test_defaults_inside_the_space_move_nothing() -> None:
    config = load_config(**{"features.history_targets": 2, "model.reg_alpha": 0.5}).resolved(
        users=900
    )
    assert DEFAULT_SPACE.moved_defaults(config) == {}
