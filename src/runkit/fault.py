"""A fault hook for tests: ``BASKETCAST_FAULT=kill@<point>:<n>`` kills the process at a named point.

``AMLWATCH_FAULT`` is read the same way (both products write run folders
with this package); a process obeys either variable.

The process sends itself SIGKILL the n-th time it reaches `point` (n = 1 when
left out), so an interruption is reproducible instead of timed.
``stop@<point>:<n>`` sends SIGSTOP instead (the process waits, holding what it
holds, until SIGCONT): a test can then act while, say, a run holds its lock.
Several faults may be given, separated by commas. Without the variable a
point costs one lookup in the environment.

Points: ``lock:held``, ``stage:<stage>`` (after each stage), ``write:<file
name>`` (an atomic write, before its rename), ``cache:<stage>:files`` (a cache
entry's files written, its manifest not yet), ``folder:staged`` /
``folder:move`` (`write_folder`), ``publish:manifest``, ``publish:links`` and
``publish:swapped`` (the run folder's publication).
"""

from __future__ import annotations

import os
import signal

__all__ = ["ENV", "ENVS", "fault_point"]

ENV = "BASKETCAST_FAULT"
ENVS = (ENV, "AMLWATCH_FAULT")
_hits: dict[str, int] = {}


_SIGNALS = {"kill": signal.SIGKILL, "stop": signal.SIGSTOP}


def _targets() -> dict[str, tuple[signal.Signals, int]]:
    out: dict[str, tuple[signal.Signals, int]] = {}
    for env in ENVS:
        spec = os.environ.get(env, "")
        for part in filter(None, (p.strip() for p in spec.split(","))):
            action, _, rest = part.partition("@")
            if action not in _SIGNALS or not rest:
                raise ValueError(
                    f"{env}={spec!r}: expected kill@<point>[:<n>] or stop@<point>[:<n>]"
                )
            point, _, count = rest.rpartition(":")
            if not point or not count.isdigit():
                point, count = rest, "1"
            out[point] = (_SIGNALS[action], int(count))
    return out


def fault_point(point: str) -> None:
    """Die (or stop) here when a fault variable names this point and its count is reached."""
    if not any(env in os.environ for env in ENVS):
        return
    target = _targets().get(point)
    if target is None:
        return
    sig, wanted = target
    _hits[point] = _hits.get(point, 0) + 1
    if _hits[point] == wanted:
        os.kill(os.getpid(), sig)
