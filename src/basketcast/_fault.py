"""A fault hook for tests: ``BASKETCAST_FAULT=kill@<point>:<n>`` kills the process at a named point.

The process sends itself SIGKILL the n-th time it reaches `point` (n = 1 when
left out), so an interruption is reproducible instead of timed. Several
faults may be given, separated by commas. Without the variable a point costs
one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

__all__ = ["ENV", "fault_point"]

ENV = "BASKETCAST_FAULT"
_hits: dict[str, int] = {}


def _targets() -> dict[str, int]:
    spec = os.environ.get(ENV, "")
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        action, _, rest = part.partition("@")
        if action != "kill" or not rest:
            raise ValueError(f"{ENV}={spec!r}: expected kill@<point>[:<n>]")
        point, _, count = rest.rpartition(":")
        if not point or not count.isdigit():
            point, count = rest, "1"
        out[point] = int(count)
    return out


def fault_point(point: str) -> None:
    """Die here (SIGKILL) when ``BASKETCAST_FAULT`` names this point and its count is reached."""
    if ENV not in os.environ:
        return
    wanted = _targets().get(point)
    if wanted is None:
        return
    _hits[point] = _hits.get(point, 0) + 1
    if _hits[point] == wanted:
        os.kill(os.getpid(), signal.SIGKILL)
