"""Where the study lives, who is working on it, and how many trials it still needs.

The default storage is Optuna's journal file (``DIR/study.journal``): an
append-only log that several processes on one machine can share. Any Optuna
RDB URL (``sqlite:///...``, ``postgresql://...``) works as well, and is the way
to share a study between machines.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "COUNTED",
    "WORKER_ATTR",
    "budget_lock",
    "fail_stale_trials",
    "make_storage",
    "trial_counts",
    "worker_id",
]

WORKER_ATTR = "worker"
HEARTBEAT_ATTR = "heartbeat"
STALE_AFTER_S = 600.0
"""A running trial whose worker has not written a heartbeat for this long is taken as dead."""


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise ImportError("basketcast tune needs Optuna: pip install 'basketcast[tune]'") from None
    return optuna


def _counted() -> tuple[Any, ...]:
    ts = _optuna().trial.TrialState
    return (ts.COMPLETE, ts.PRUNED)


COUNTED = "complete and pruned trials"
"""What `--trials N` counts: failed trials (errors, interrupts) do not count and are retried."""


def make_storage(storage: str | None, out: Path) -> Any:
    """An Optuna storage: a journal file by default or for a path, an RDB for a URL."""
    optuna = _optuna()
    if storage is not None and "://" in storage:
        return optuna.storages.RDBStorage(storage)
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    path = Path(storage) if storage is not None else out / "study.journal"
    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path)))


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def fail_stale_trials(study: Any, *, now: float | None = None) -> list[int]:
    """Mark failed the running trials whose worker is gone; return their numbers.

    A worker is gone when it ran on this machine and its process no longer
    exists, or when its last heartbeat is older than `STALE_AFTER_S` (a worker
    on another machine, or one that never wrote a heartbeat).
    """
    optuna = _optuna()
    ts = optuna.trial.TrialState
    now = time.time() if now is None else now
    host = socket.gethostname()
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(ts.RUNNING,)):
        worker = str(trial.user_attrs.get(WORKER_ATTR, ""))
        beat = float(trial.user_attrs.get(HEARTBEAT_ATTR, 0.0))
        name, _, pid = worker.rpartition(":")
        if name == host and pid.isdigit():
            stale = not _alive(int(pid))
        else:
            start = trial.datetime_start.timestamp() if trial.datetime_start else 0.0
            stale = now - max(beat, start) > STALE_AFTER_S
        if stale:
            study._storage.set_trial_state_values(trial._trial_id, state=ts.FAIL)
            failed.append(trial.number)
    return failed


def trial_counts(study: Any) -> tuple[int, int]:
    """(finished, running): trials that count toward N, and trials in progress."""
    ts = _optuna().trial.TrialState
    trials = study.get_trials(deepcopy=False, states=(*_counted(), ts.RUNNING))
    running = sum(t.state == ts.RUNNING for t in trials)
    return len(trials) - running, running


@contextlib.contextmanager
def budget_lock(out: Path) -> Iterator[None]:
    """Held while a worker counts the trials and asks for a new one, so N is never passed.

    A file lock in the output folder: every worker that shares the folder
    (``--jobs``, or more processes started by hand) takes turns. Workers on
    other machines, with their own folder, may each add a trial beyond N.
    """
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".study.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
