"""The account state: one SQLite file in WAL mode, ``synchronous`` set by the durability.

Tables: ``accounts`` (per account: last timestamp, each window's first event,
the float running sums as raw float64 bytes, so a restart restores them bit
for bit), ``events`` (each account's events still inside its widest window),
``pairs`` (per (sender, receiver): transactions so far), ``directory``
(account kind and country, from the run's accounts file), ``scored`` (every
scored transaction and its answer) and ``meta``.

`commit` writes a group of transactions' changes in one SQLite transaction
and returns once its COMMIT has: the WAL frames are written, so the service
answers only for transactions that survive the server being killed. With
`Durability.POWER` (``synchronous=FULL``) the COMMIT also waits for the WAL's
fsync, so they survive a power cut too; with `Durability.PROCESS`
(``synchronous=NORMAL``, the default) no fsync is on the answer path and the
checkpoints sync the WAL (`amlwatch.serve.settings.Durability` says what each
promises). Grouping concurrent requests into one commit pays one COMMIT for all
of them. Rows are updated in place (upserts, not ``INSERT OR REPLACE``, which
deletes and re-inserts: a new rowid and an index change), so a commit writes
fewer pages to the WAL. With `background_checkpoints`, the WAL is copied into
the database file by another thread, not inside a commit (`amlwatch.serve.checkpoint`).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from amlwatch.serve.checkpoint import CHECKPOINT_EVERY, LIMIT_FRAMES, Checkpointer, OnCheckpoint
from amlwatch.serve.settings import Durability
from amlwatch.serve.stream import WIDTHS, AccountBook, AccountState, Event, Touched, log1p
from runkit.locks import hold_lock

__all__ = ["Directory", "StateStore", "Write"]

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS directory (account TEXT PRIMARY KEY, kind TEXT, country TEXT);
CREATE TABLE IF NOT EXISTS accounts (
    account TEXT PRIMARY KEY, last_us INTEGER, left_seqs TEXT NOT NULL, sums BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    account TEXT NOT NULL, seq INTEGER NOT NULL, t INTEGER NOT NULL, d INTEGER NOT NULL,
    cp TEXT NOT NULL, amount REAL NOT NULL, new INTEGER NOT NULL, PRIMARY KEY (account, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pairs (
    src TEXT NOT NULL, dst TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (src, dst)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS scored (
    seq INTEGER PRIMARY KEY, received_at TEXT NOT NULL, transaction_json TEXT NOT NULL,
    detector TEXT NOT NULL, score REAL NOT NULL, alert INTEGER NOT NULL, rules TEXT NOT NULL
);
"""
_UPSERT_ACCOUNT = (
    "INSERT INTO accounts VALUES (?, ?, ?, ?) ON CONFLICT (account) DO UPDATE SET"
    " last_us = excluded.last_us, left_seqs = excluded.left_seqs, sums = excluded.sums"
)
_UPSERT_PAIR = (
    "INSERT INTO pairs VALUES (?, ?, ?) ON CONFLICT (src, dst) DO UPDATE SET n = excluded.n"
)
_UPSERT_META = (
    "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
_WAL_LIMIT_BYTES = 64 * 1024 * 1024  # a WAL grown past this by a burst is cut back on restart
Directory = dict[str, tuple[str | None, str | None]]
"""Account key -> (kind, country); accounts not in it have neither."""


@dataclass(frozen=True)
class AccountRow:
    """An account's row, captured when its transaction was scored."""

    account: str
    last_us: int | None
    left_seqs: tuple[int, ...]
    sums: bytes

    @classmethod
    def of(cls, key: str, state: AccountState, next_seq: int) -> AccountRow:
        return cls(key, state.last_us, tuple(state.left_seqs(next_seq)), state.sums().tobytes())


@dataclass(frozen=True)
class Write:
    """Everything one scored transaction changes on disk."""

    seq: int
    touched: Touched
    rows: tuple[AccountRow, ...]
    scored: tuple[Any, ...] | None  # (received_at, transaction_json, detector, score, alert, rules)


def _event_row(account: str, e: Event) -> tuple[Any, ...]:
    return (account, e.seq, e.t, e.d, e.cp, e.amount, e.new)


class StateStore:
    """The SQLite file; one connection, used by one writer at a time (a lock guards it)."""

    def __init__(self, path: str | Path, *, durability: Durability = Durability.PROCESS) -> None:
        self.path = Path(path)
        self.durability = Durability(durability)
        if self.path.is_dir():
            raise IsADirectoryError(f"{self.path}: a folder; --db names the state file itself")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One service per state file: a second one would write the same event numbers.
        self._holder = hold_lock(
            self.path.with_name(self.path.name + ".lock"),
            lambda pid: (
                f"{self.path} is in use by another amlwatch serve (PID {pid}); stop it "
                "or give this one another --db"
            ),
        )
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={self.durability.synchronous}")
            self._db.execute(f"PRAGMA journal_size_limit={_WAL_LIMIT_BYTES}")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            os.close(self._holder)
            raise ValueError(f"{self.path}: not an amlwatch state file ({exc})") from None
        self.checkpointer: Checkpointer | None = None
        found = self.meta("schema_version")
        if found is not None and int(found) != SCHEMA_VERSION:
            self.close()
            raise ValueError(
                f"{self.path}: state schema version {found}, this amlwatch reads {SCHEMA_VERSION}"
            )

    # -- small reads -----------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def is_new(self) -> bool:
        return self.meta("schema_version") is None

    def scored_count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM scored").fetchone()[0])

    # -- startup ---------------------------------------------------------------------------
    def initialise(
        self,
        book: AccountBook,
        directory: Directory,
        *,
        next_seq: int,
        meta: dict[str, str],
    ) -> None:
        """Write a replayed history's whole state and the directory in one transaction."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(
                    "INSERT OR REPLACE INTO directory VALUES (?, ?, ?)",
                    ((k, kind, country) for k, (kind, country) in directory.items()),
                )
                for key, state in book.accounts.items():
                    row = AccountRow.of(key, state, 2 * next_seq)
                    db.execute(
                        "INSERT OR REPLACE INTO accounts VALUES (?, ?, ?, ?)",
                        (key, row.last_us, json.dumps(row.left_seqs), row.sums),
                    )
                    db.executemany(
                        "INSERT OR REPLACE INTO events VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (_event_row(key, e) for e in state.events),
                    )
                db.executemany(
                    "INSERT OR REPLACE INTO pairs VALUES (?, ?, ?)",
                    ((s, d, n) for (s, d), n in book.pairs.items()),
                )
                values = {**meta, "schema_version": str(SCHEMA_VERSION), "next_seq": str(next_seq)}
                db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", values.items())
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def load(self) -> tuple[AccountBook, Directory, int]:
        """The stored state: accounts with their windows, pair counts, directory, next seq."""
        db = self._db
        events: dict[str, list[Event]] = defaultdict(list)
        for account, seq, t, d, cp, amount, new in db.execute(
            "SELECT account, seq, t, d, cp, amount, new FROM events ORDER BY account, seq"
        ):
            events[account].append(Event(seq, t, d, cp, float(amount), new, log1p(float(amount))))
        book = AccountBook()
        for account, last_us, left_seqs, sums in db.execute("SELECT * FROM accounts"):
            book.accounts[account] = AccountState.restore(
                events.get(account, []),
                json.loads(left_seqs),
                np.frombuffer(sums, dtype=np.float64).reshape(3, len(WIDTHS), 2),
                last_us,
            )
        book.pairs = {(s, d): int(n) for s, d, n in db.execute("SELECT src, dst, n FROM pairs")}
        directory: Directory = {
            k: (kind, country) for k, kind, country in db.execute("SELECT * FROM directory")
        }
        return book, directory, int(self.meta("next_seq") or 0)

    def background_checkpoints(
        self,
        *,
        every: int = CHECKPOINT_EVERY,
        limit: int = LIMIT_FRAMES,
        on_checkpoint: OnCheckpoint | None = None,
    ) -> Checkpointer:
        """Checkpoint the WAL on another thread after every `every` commits, never in a commit."""
        if self.checkpointer is None:
            self._db.execute("PRAGMA wal_autocheckpoint=0")
            self.checkpointer = Checkpointer(
                self.path, every=every, limit=limit, on_checkpoint=on_checkpoint
            )
        return self.checkpointer

    # -- the hot path ----------------------------------------------------------------------
    def commit(self, writes: Iterable[Write]) -> float:
        """Store a group of writes in one transaction; returns once its COMMIT has.

        Returns the seconds of the COMMIT statement alone (the WAL write, and with
        `Durability.POWER` its fsync).
        """
        writes = list(writes)
        if not writes:
            return 0.0
        rows: dict[str, AccountRow] = {}
        pairs: dict[tuple[str, str], int] = {}
        events, gone, scored = [], [], []
        for w in writes:  # later writes of the same account or pair supersede earlier ones
            rows.update((r.account, r) for r in w.rows)
            src, dst, n = w.touched.pair
            pairs[(src, dst)] = n
            events += [_event_row(a, e) for a, e in w.touched.events]
            gone += list(w.touched.gone)
            if w.scored is not None:
                scored.append((w.seq, *w.scored))
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", events)
                db.executemany("DELETE FROM events WHERE account = ? AND seq = ?", gone)
                db.executemany(
                    _UPSERT_ACCOUNT,
                    (
                        (r.account, r.last_us, json.dumps(r.left_seqs), r.sums)
                        for r in rows.values()
                    ),
                )
                db.executemany(_UPSERT_PAIR, ((s, d, n) for (s, d), n in pairs.items()))
                db.executemany("INSERT INTO scored VALUES (?, ?, ?, ?, ?, ?, ?)", scored)
                db.execute(_UPSERT_META, ("next_seq", str(writes[-1].seq + 1)))
                started = time.perf_counter()
                db.execute("COMMIT")
                synced = time.perf_counter() - started
            except BaseException:
                db.execute("ROLLBACK")
                raise
        if self.checkpointer is not None:
            self.checkpointer.committed()
        return synced

    def restart_wal_if_overdue(self) -> None:
        """Between commits: when the checkpointer could not catch up, let the writer wait for it."""
        if self.checkpointer is not None and self.checkpointer.overdue:
            with self._lock:
                self.checkpointer.restart(self._db)

    def close(self) -> None:
        """Stop the checkpointer first: the last connection to close checkpoints the WAL."""
        if self.checkpointer is not None:
            self.checkpointer.stop()
        with self._lock:
            self._db.close()
        os.close(self._holder)  # releases the state file for the next service
