"""WAL checkpoints off the request path: one thread with its own SQLite connection.

By default SQLite checkpoints inside the commit that takes the WAL past 1000
pages: that commit, and every answer waiting on it, also pays for copying the
WAL's pages into the database file and for that file's fsync (measured on the
development machine: about one commit in 80 to 125, with 3-4x the median commit
time; benchmarks/README.md). The store's writer turns that off
(``wal_autocheckpoint=0``) once a `Checkpointer` runs; the checkpointer runs a
PASSIVE checkpoint after every `every` commits. PASSIVE takes no lock a writer
needs, so commits go on while it copies.

Durability is unchanged: a commit survives a kill of the server once its WAL
frames are written, and a power cut once they are synced (each commit syncs
them with ``synchronous=FULL``; with ``NORMAL`` a checkpoint round does, first:
`amlwatch.serve.settings.Durability`); a checkpoint copies only committed
frames, syncs the database file before it marks them copied, and after a kill
the next open replays whatever the WAL still holds. The WAL restarts from its beginning (the
file is overwritten, not grown) once a checkpoint has copied all of it, so a
checkpoint that ends behind the writer is repeated at once, a few times: what
is left is then a commit or two, a short copy. Under commits back to back the
writer may never be outside a transaction at the right moment, and a round that
waits for the disk's fsync (tens of milliseconds here, seconds when this virtual
disk stalls) lets hundreds of commits through. So after each group the writer
reads the WAL's length from SQLite's WAL index (`wal_index`); once it passes
`limit`, the checkpointer is `overdue` and the writer (the event loop or the
commit thread, `amlwatch.serve.commit`), after answering its group, runs a
RESTART checkpoint itself (`restart`, after any round in progress, which it
waits for; it copies what the rounds did not): the
next group waits for it, as a 1,000-page commit waits in SQLite's default, but
once per `limit` frames (8,192: about every 1,000 commits) instead.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["CHECKPOINT_EVERY", "LIMIT_FRAMES", "Checkpointer"]

CHECKPOINT_EVERY = 128
"""Commits between checkpoints (~8 WAL pages each: ~1,000 pages, SQLite's default)."""

LIMIT_FRAMES = 8192
"""WAL frames (4 KiB pages: 32 MiB) past which the writer restarts the WAL itself."""

log = logging.getLogger("amlwatch.serve")

_CATCH_UP = 3  # immediate retries when the writer appended during a checkpoint
_RESTART_WAIT_MS = 200  # how long a forced RESTART waits for a reader
_WRITER_WAIT_MS = 5000  # the writer's busy timeout otherwise (Python's sqlite3 default)
_WAL_INDEX_VERSION = 3007000  # the `-shm` header's format (walformat.html)

OnCheckpoint = Callable[[float, int, int, bool], None]
"""Called with (seconds, WAL frames, frames copied, whether the writer had to wait) after each."""


class Checkpointer:
    """Runs ``PRAGMA wal_checkpoint(PASSIVE)`` on its own connection after every `every` commits."""

    def __init__(
        self,
        path: str | Path,
        *,
        every: int = CHECKPOINT_EVERY,
        limit: int = LIMIT_FRAMES,
        on_checkpoint: OnCheckpoint | None = None,
    ) -> None:
        if every < 1 or limit < 1:
            raise ValueError(f"every and limit must be positive, got {every} and {limit}")
        self.every = every
        self.limit = limit
        self.on_checkpoint = on_checkpoint
        self.checkpoints = 0
        self.forced = 0
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA synchronous=FULL")  # sync the database file before marking
        self._db.execute("PRAGMA schema_version").fetchone()  # opens the WAL index, if not yet
        try:
            self._shm = os.open(f"{path}-shm", os.O_RDONLY)
        except OSError:  # no WAL index file (e.g. SQLite keeps it in memory): the rounds' counts
            self._shm = -1
        self._pending = 0  # commits since the last round began
        self._frames = 0  # WAL frames the last checkpoint found
        self._stopping = False
        self._cond = threading.Condition()
        self._round = threading.Lock()  # one checkpoint at a time: a round or a RESTART
        self._thread = threading.Thread(target=self._run, name="amlwatch-checkpoint", daemon=True)
        self._thread.start()

    def committed(self) -> None:
        """The writer made one more commit (cheap: called by the writer after each COMMIT)."""
        with self._cond:
            self._pending += 1
            if self._pending >= self.every:
                self._cond.notify()

    def wal_index(self) -> tuple[int, int] | None:
        """(frames in the WAL, frames copied) now, as SQLite's WAL index holds them.

        The ``-shm`` file (https://www.sqlite.org/walformat.html) starts with the
        format's version (3007000) and holds, in native byte order, the last
        committed frame (`mxFrame`, a u32 at byte 16) and the frames checkpointed
        (`nBackfill`, at byte 96). SQLite updates them in every commit and
        checkpoint, so one 100-byte read after the writer's COMMIT is exact.
        None if the file is not in that format.
        """
        if self._shm < 0:
            return None
        try:
            head = os.pread(self._shm, 100, 0)
        except OSError:
            return None
        if len(head) < 100 or struct.unpack_from("=I", head, 0)[0] != _WAL_INDEX_VERSION:
            return None
        return struct.unpack_from("=I", head, 16)[0], struct.unpack_from("=I", head, 96)[0]

    @property
    def overdue(self) -> bool:
        """The WAL is over `limit` frames and not all copied: the writer should restart it.

        (All copied, the writer's next commit starts it again from its beginning.)
        """
        index = self.wal_index()
        if index is None:  # not readable: what the last round found stands in
            return self._frames > self.limit
        frames, copied = index
        return frames > self.limit and copied < frames

    def checkpoint(self) -> tuple[int, int]:
        """Copy the WAL into the database file; returns (WAL frames, frames copied).

        A checkpoint copies the frames there were when it began; commits made
        meanwhile are copied by the next call. Once one finds nothing new (a
        no-op: no copy, no sync), the WAL is all copied and the writer's next
        commit starts it again from its beginning.
        """
        started = time.perf_counter()
        seen, frames, done = -1, 0, 0
        with self._round:
            for _ in range(2 + _CATCH_UP):
                busy, frames, done = self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if busy or (done >= frames and frames == seen):
                    break
                seen = frames
            self._frames = frames
        self.checkpoints += 1
        if self.on_checkpoint is not None:
            self.on_checkpoint(time.perf_counter() - started, frames, done, False)
        return frames, done

    def restart(self, writer: sqlite3.Connection) -> None:
        """On the writer's thread, between commits: copy the rest and restart the WAL.

        Only when `overdue`. A round in progress ends first (SQLite runs one
        checkpoint at a time) and the writer waits for it: skipping instead let
        the WAL grow far past `limit` when commits outpace rounds (commits back to
        back without an fsync each), since a new round then starts as soon as one
        ends. If that round caught up, nothing more is done. The writer holds no
        transaction, so nothing waits for it. A reader holding an old snapshot
        makes it give up (busy) after a short wait, until the next round.
        """
        if not self.overdue:
            return
        started = time.perf_counter()  # the writer's wait for a round counts in its time
        with self._round:
            if not self.overdue:  # the round it waited for caught up
                return
            writer.execute(f"PRAGMA busy_timeout={_RESTART_WAIT_MS}")
            try:
                _, frames, done = writer.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
            finally:
                writer.execute(f"PRAGMA busy_timeout={_WRITER_WAIT_MS}")
            self._frames = 0  # restarted, or (busy) left to the next round
            self.forced += 1
        if self.on_checkpoint is not None:
            self.on_checkpoint(time.perf_counter() - started, frames, done, True)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._pending < self.every and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                self._pending = 0
            try:
                self.checkpoint()
            except Exception as exc:  # the WAL keeps everything; the next round retries
                log.warning(
                    "checkpoint failed", extra={"event": "checkpoint_failed", "error": str(exc)}
                )

    def stop(self) -> None:
        """End the thread (after a checkpoint in progress) and close the connection."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout=30)
        self._db.close()
        if self._shm >= 0:
            os.close(self._shm)
