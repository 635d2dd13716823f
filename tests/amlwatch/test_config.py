"""Run configs: every bad section, key, kind, parameter and value is one clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from amlwatch.config import RunConfig, ThresholdRule, config_from_dict, load_config

GOOD = """
[run]
seed = 3
threshold = "budget"
fractions = [0.5, 0.25, 0.25]
case_window_days = 30
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
    ('[run]\nthreshold = "best"\n', ["threshold must be one of 'f_beta', 'budget', got 'best'"]),
    ('[run]\nseed = "abc"\n', ["[run] seed must be an integer, got 'abc'"]),
    ('[run]\nthreads = "2"\n', ["[run] threads must be an integer, got '2'"]),
    ("[run]\nbeta = true\n", ["[run] beta must be a number, got True"]),
    ('[run]\nbudgets = [10, "x"]\n', ["[run] budgets must be a list of numbers"]),
    ("[run]\nbudgets = []\n", ["budgets must be one or more alerts per 10k > 0"]),
    ("[run]\nfractions = [0.5, 0.5]\n", ["fractions must be three positive shares"]),
    ("[run]\nreasons_top = -1\n", ["reasons_top must be >= 0"]),
    ("[run]\nseed = -2\n", ["seed must be >= 0"]),
    ("[run]\ncase_window_days = 0\n", ["case_window_days must be > 0, got 0"]),
    ("[run]\ncase_window_days = -3.5\n", ["case_window_days must be > 0, got -3.5"]),
    ("[run]\ncase_window_days = nan\n", ["case_window_days must be > 0, got nan"]),
    ('[run]\ncase_window_days = "14d"\n', ["[run] case_window_days must be a number, got '14d'"]),
    ("[graph]\nwindow_days = 2.5\n", ["[graph] window_days must be an integer, got 2.5"]),
    ('[flow]\nlow = "0.9"\n', ["[flow] low must be a number, got '0.9'"]),
    (  # wrong types are listed together
        '[run]\nseed = "a"\nthreshold = "x"\n[graph]\nmax_cycle = 2.0\n',
        ["3 problem(s)", "seed must be", "threshold must be", "max_cycle must be"],
    ),
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
    assert cfg.case_window_days == 30
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


def test_the_case_window_is_recorded_and_read_back() -> None:
    # `amlwatch score` groups a run's alerts with the window the run used (its config.json).
    assert RunConfig().case_window_days == 14.0
    cfg = RunConfig(case_window_days=45.5)
    assert config_from_dict(json.loads(json.dumps(cfg.to_dict()))).case_window_days == 45.5
