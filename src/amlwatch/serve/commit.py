"""Group commits of scored transactions: on the event loop, or on a writer thread.

`Service.score` hands each transaction's write to a committer and the answer
waits for the future it gets back; a future resolves only after the COMMIT of
the group holding its write (and of every earlier write) has returned. Two
committers keep that promise:

- `LoopCommitter` (with `Durability.PROCESS`, the default): the commit runs on
  the event loop itself, once per loop iteration, for every write scored since
  the last one. With ``synchronous=NORMAL`` a COMMIT writes the WAL to the
  operating system without an fsync (~0.1 ms), so a thread buys nothing, and
  handing each group to one costs a wake-up, a GIL hand-over both ways and a
  wake-up of the loop through its self-pipe: under load on 2 cores these waits
  for a CPU, not the commit, made the latency's tail.
- `GroupCommitter` (with `Durability.POWER`): one writer thread, so the loop
  keeps serving while a COMMIT waits for the disk's fsync (milliseconds, and
  seconds when this virtual disk stalls).

Both run the writer's overdue WAL restart (`StateStore.restart_wal_if_overdue`)
only after answering the group that made it due.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

from amlwatch.serve.errors import ServeError
from amlwatch.serve.settings import Durability
from amlwatch.serve.store import StateStore, Write

__all__ = ["Committer", "GroupCommitter", "LoopCommitter", "OnCommit", "make_committer"]

log = logging.getLogger("amlwatch.serve")

OnCommit = Callable[[int, float, float], None]
"""Called after each commit with (writes in the group, seconds of the commit, seconds of the
COMMIT statement alone)."""


def _restart_wal(store: StateStore) -> None:
    try:
        store.restart_wal_if_overdue()
    except sqlite3.Error as exc:  # the WAL keeps everything; the next round retries
        log.warning("checkpoint failed", extra={"event": "checkpoint_failed", "error": str(exc)})


class LoopCommitter:
    """Commits on the event loop's thread: one transaction per loop iteration with writes.

    `submit` must be called on the loop's thread. The first write of an iteration
    schedules a flush with `call_soon`, so every request scored before the loop
    gets back to its callbacks joins the same commit. The flush blocks the loop for
    the commit's duration (binding rows and a COMMIT without fsync: well under a
    millisecond for the groups this service makes).
    """

    def __init__(self, store: StateStore, *, on_commit: OnCommit | None = None) -> None:
        self.store = store
        self.on_commit = on_commit
        self.loop = asyncio.get_running_loop()
        self._group: list[tuple[Write, asyncio.Future[None]]] = []
        self._stopping = False

    def submit(self, write: Write) -> asyncio.Future[None]:
        if self._stopping:
            raise ServeError(["the service is shutting down"], status=503)
        future: asyncio.Future[None] = self.loop.create_future()
        if not self._group:
            self.loop.call_soon(self._flush)
        self._group.append((write, future))
        return future

    def _flush(self) -> None:
        group, self._group = self._group, []
        if not group or not _commit_group(self.store, group, self.on_commit):
            return
        if self.store.checkpointer is not None and self.store.checkpointer.overdue:
            # After the answers' callbacks (queued first): only later requests wait for it.
            self.loop.call_soon(_restart_wal, self.store)

    def stop(self) -> None:
        """Commit what is queued (on the loop's thread); refuse writes from now on."""
        self._stopping = True
        self._flush()


class GroupCommitter:
    """One writer thread: takes every write queued so far and commits them together."""

    def __init__(self, store: StateStore, *, on_commit: OnCommit | None = None) -> None:
        self.store = store
        self.on_commit = on_commit
        self._queue: list[tuple[Write, concurrent.futures.Future[None]]] = []
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="amlwatch-commit", daemon=True)
        self._thread.start()

    def submit(self, write: Write) -> concurrent.futures.Future[None]:
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        with self._cond:
            if self._stopping:
                raise ServeError(["the service is shutting down"], status=503)
            self._queue.append((write, future))
            self._cond.notify()
        return future

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if not self._queue and self._stopping:
                    return
                group, self._queue = self._queue, []
            if _commit_group(self.store, group, self.on_commit):
                _restart_wal(self.store)  # after answering: only the next group waits for it

    def stop(self) -> None:
        """Commit what is queued, then end the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout=30)


AnyFuture = asyncio.Future[None] | concurrent.futures.Future[None]


def _commit_group(
    store: StateStore, group: list[tuple[Write, Any]], on_commit: OnCommit | None
) -> bool:
    """Commit a group's writes in one transaction, then settle every waiter's future.

    A failed commit reaches every waiter (the service then stops scoring); returns
    whether the commit succeeded.
    """
    started = time.perf_counter()
    try:
        synced = store.commit(w for w, _ in group)
    except BaseException as exc:
        for _, future in group:
            _settle(future, exc)
        return False
    if on_commit is not None:
        on_commit(len(group), time.perf_counter() - started, synced)
    for _, future in group:
        _settle(future, None)
    return True


def _settle(future: AnyFuture, exc: BaseException | None) -> None:
    # A waiter that went away may have cancelled its future; the write stands either way,
    # and a writer must not die of InvalidStateError.
    if future.done():
        return
    try:
        if exc is None:
            future.set_result(None)
        else:
            future.set_exception(exc)
    except (concurrent.futures.InvalidStateError, asyncio.InvalidStateError):
        pass  # cancelled between the check and the call (the thread's futures)


Committer = LoopCommitter | GroupCommitter


def make_committer(store: StateStore, *, on_commit: OnCommit | None = None) -> Committer:
    """The committer for the store's durability; call it on the running event loop."""
    if store.durability is Durability.PROCESS:
        return LoopCommitter(store, on_commit=on_commit)
    return GroupCommitter(store, on_commit=on_commit)
