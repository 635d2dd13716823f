"""Run configs: every bad section, key, kind, parameter and value is one clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from amlwatch.config import ThresholdRule, load_config

GOOD = """
[run]
seed = 3
threshold = "budget"
fractions = [0.5, 0.25, 0.25]
[graph]
window_days = 20
[flow]
delta_days = 5
[[detector]]
name = "x"
kind = "xgboost"
params = {rounds = 5}
"""

BAD = [
    ("[grph]\nwindow_days = 3\n", ["unknown section(s) ['grph']"]),
    ("[graph]\nwindow_day = 3\n", ["[graph]: 1 unknown key(s) ['window_day']"]),
    ("[flow]\ndelta = 3\n", ["[flow]: 1 unknown key(s) ['delta']"]),
    ("[run]\nsed = 3\n", ["[run]: 1 unknown key(s) ['sed']"]),
    ('[run]\nthreshold = "best"\n', ["'best' is not a valid ThresholdRule"]),
    ("[run]\nbeta = 0\n", ["beta must be > 0"]),
    ("[run]\nthreads = -1\n", ["threads must be >= 0"]),
    ("run = 3\n", ["[run] must be a table"]),
    ("detector = 3\n", ["[[detector]] must be an array of tables"]),
    ('[[detector]]\nname = "a"\n', ["[[detector]] #1 needs a string kind"]),
    ('[[detector]]\nname = "a"\nkind = "rules"\nparam = {}\n', ["#1: unknown key(s) ['param']"]),
    ('[[detector]]\nname = "a"\nkind = "rules"\nparams = 3\n', ["#1: params must be a table"]),
    ("[run\n", ["not valid TOML"]),
    (  # every problem at once, in one message
        '[grph]\n[graph]\nwindow_day = 3\n[[detector]]\nkind = "rules"\n'
        '[[detector]]\nname = "b"\nkind = "xgboost"\nparams = {round = 5}\n',
        ["4 problem(s)", "['grph']", "['window_day']", "#1 needs a string name", "['round']"],
    ),
]


def test_a_good_config_loads(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text(GOOD)
    cfg = load_config(path)
    assert (cfg.seed, cfg.threshold, cfg.fractions) == (3, ThresholdRule.BUDGET, (0.5, 0.25, 0.25))
    assert (cfg.graph.window_days, cfg.flow.delta_days) == (20, 5)
    assert [(d.name, d.kind, d.params) for d in cfg.detectors] == [("x", "xgboost", {"rounds": 5})]


@pytest.mark.parametrize(("text", "expected"), BAD)
def test_a_bad_config_is_one_error_naming_the_file(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    for part in expected:
        assert part in message
