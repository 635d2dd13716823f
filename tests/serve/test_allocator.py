"""`basketcast serve` sets Polars' allocator to keep freed memory for a minute, before Polars loads.

The setting is checked where it takes effect: jemalloc's own report of the
options it runs with (``stats_print``, printed at exit) in a real child process,
and the real server's log line of the setting it started with.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from basketcast._entry import (
    ALLOCATOR_VARIABLE,
    SERVE_ALLOCATOR,
    command_of,
    prepare_allocator,
    users_setting,
)

POLARS_OWN = "dirty_decay_ms:500,muzzy_decay_ms:1000"


@pytest.mark.parametrize(("args", "command"), [
    (["serve", "RUN", "--port", "8001"], "serve"),
    (["--version"], None),
    ([], None),
    (["run", "DATA", "--out", "serve"], "run"),  # a later word named serve is not the command
    (["datasets", "fetch"], "datasets"),
])  # fmt: skip
def test_the_command_is_the_first_word_not_an_option(args: list[str], command: str | None) -> None:
    assert command_of(args) == command


@pytest.mark.parametrize(("value", "users"), [
    ("", ""),
    (POLARS_OWN, ""),  # inherited from a parent that imported Polars
    (f"{POLARS_OWN},{POLARS_OWN}", ""),  # from a grandparent too
    (f"{POLARS_OWN},thp:always,metadata_thp:always", ""),  # Polars' own with POLARS_THP=1
    (f"{POLARS_OWN},dirty_decay_ms:-1", "dirty_decay_ms:-1"),
    ("dirty_decay_ms:-1", "dirty_decay_ms:-1"),
    ("dirty_decay_ms:500", "dirty_decay_ms:500"),  # the user's, though it is Polars' number
    (f"narenas:2,{POLARS_OWN}", f"narenas:2,{POLARS_OWN}"),  # Polars' part only ever leads
])  # fmt: skip
def test_the_users_setting_is_what_follows_polars_own(value: str, users: str) -> None:
    assert users_setting(value) == users


def test_serve_gets_the_setting_unless_the_user_gave_one() -> None:
    for inherited in ({}, {ALLOCATOR_VARIABLE: ""}, {ALLOCATOR_VARIABLE: POLARS_OWN}):
        env = dict(inherited)
        prepare_allocator(["serve", "RUN"], env)
        assert env == {ALLOCATOR_VARIABLE: SERVE_ALLOCATOR}, inherited
    mine = {ALLOCATOR_VARIABLE: f"{POLARS_OWN},dirty_decay_ms:-1,muzzy_decay_ms:-1"}
    env = dict(mine)
    prepare_allocator(["serve", "RUN"], env)
    assert env == mine
    for other in (["run", "DATA"], ["predict", "RUN"], []):
        env = {}
        prepare_allocator(other, env)
        assert env == {}, other


def _child(code: str, value: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != ALLOCATOR_VARIABLE}
    if value is not None:
        env[ALLOCATOR_VARIABLE] = value
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


@pytest.mark.parametrize("inherited", [None, POLARS_OWN])
def test_jemalloc_runs_with_the_serve_setting_when_set_before_polars_loads(
    inherited: str | None,
) -> None:
    code = (
        "import os\n"
        "from basketcast._entry import prepare_allocator\n"
        "prepare_allocator(['serve', 'RUN'], os.environ)\n"
        f"os.environ['{ALLOCATOR_VARIABLE}'] += ',stats_print:true'  # jemalloc's report at exit\n"
        "import polars\n"
    )
    report = _child(code, inherited).stderr
    assert "Invalid conf" not in report, report[:2000]
    assert "opt.dirty_decay_ms: 60000 " in report and "opt.muzzy_decay_ms: 60000 " in report


def test_without_it_polars_hands_freed_memory_back_after_half_a_second() -> None:
    report = _child(f"import os\nos.environ['{ALLOCATOR_VARIABLE}'] = 'stats_print:true'\nimport polars", None).stderr  # fmt: skip
    assert "opt.dirty_decay_ms: 500 " in report and "opt.muzzy_decay_ms: 1000 " in report


def test_the_entry_point_does_not_load_polars_before_the_setting() -> None:
    out = _child("import sys, basketcast._entry; print('polars' in sys.modules)", None).stdout
    assert out.strip() == "False"


def test_the_server_logs_the_setting_it_started_with(server_factory: type) -> None:
    # As a server started by a Python process that imported Polars inherits the variable.
    server = server_factory(env={ALLOCATOR_VARIABLE: POLARS_OWN}).start()
    server.stop()
    lines = [
        json.loads(line) for line in server.log.read_text().splitlines() if line.startswith("{")
    ]
    serving = next(line for line in lines if line.get("event") == "serving")
    # Polars' own first (its __init__ puts it there), then the serve setting, which wins.
    assert serving["allocator"] == f"{POLARS_OWN},{SERVE_ALLOCATOR}"
