"""The `basketcast` command's entry point: what has to be set before Polars loads.

`basketcast serve` tells Polars' allocator (jemalloc) to keep freed memory for
a minute before handing it back to the system. Polars' own setting hands it
back after half a second: right after the service starts, that is the ~5 GB
that loading a full-scale run freed, while the first requests arrive, and
GETs stalled for up to a second in the first 10 s of load. With a minute's
decay the same load's first 10 s stayed under 120 ms at p99, in 3 runs of 3
(two still stalled once the minute was up); the cost was 0.9 GB more at peak,
10.7 against 9.8 GB on a full-scale run (benchmarks/README.md, "A minute's
decay is now `basketcast serve`'s setting").

jemalloc reads ``_RJEM_MALLOC_CONF`` once, when Polars' library loads, so it
is set here, before the CLI imports Polars. A value the user set is kept (and
Polars puts it after its own, so it wins); what Polars itself wrote into the
variable of a parent process is not the user's. (``python -m basketcast.cli``
skips this: Polars is loaded by then.)
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping, Sequence

__all__ = [
    "ALLOCATOR_VARIABLE",
    "SERVE_ALLOCATOR",
    "command_of",
    "main",
    "prepare_allocator",
    "users_setting",
]

ALLOCATOR_VARIABLE = "_RJEM_MALLOC_CONF"
SERVE_ALLOCATOR = "dirty_decay_ms:60000,muzzy_decay_ms:60000"
"""jemalloc's setting for `basketcast serve`: hand freed pages back after 60 s, not 0.5 s."""

# What Polars' __init__ puts first (with POLARS_THP=1, the longer one): not the user's.
_POLARS_OWN = (
    "dirty_decay_ms:500,muzzy_decay_ms:1000,thp:always,metadata_thp:always",
    "dirty_decay_ms:500,muzzy_decay_ms:1000",
)


def command_of(args: Sequence[str]) -> str | None:
    """The subcommand in a `basketcast` argument list: its first word not an option."""
    return next((a for a in args if not a.startswith("-")), None)


def users_setting(value: str) -> str:
    """`value` without the settings Polars itself put in front of it.

    Polars' ``__init__`` writes its own setting, then the user's, back into
    the variable, so a child of any Python process that imported Polars (a
    test runner, a supervisor script) inherits Polars' part as if it were the
    user's. Only what follows it is the user's.
    """
    while True:
        for own in _POLARS_OWN:
            if value == own or value.startswith(own + ","):
                value = value[len(own) + 1 :]
                break
        else:
            return value


def prepare_allocator(args: Sequence[str], environ: MutableMapping[str, str]) -> None:
    """Set `SERVE_ALLOCATOR` in `environ` for `basketcast serve`, unless the user set one."""
    if command_of(args) == "serve" and not users_setting(environ.get(ALLOCATOR_VARIABLE, "")):
        environ[ALLOCATOR_VARIABLE] = SERVE_ALLOCATOR


def main() -> None:
    """Run the `basketcast` command line."""
    prepare_allocator(sys.argv[1:], os.environ)
    from basketcast.cli import app  # imports Polars: after the allocator's setting

    app(prog_name="basketcast")
