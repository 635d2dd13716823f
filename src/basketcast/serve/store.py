"""Durable storage of posted orders: SQLite (WAL, synchronous=FULL) or PostgreSQL.

One order is one row (its products as a JSON array in the same row), written
in one transaction: an order is either fully stored or absent, never half.
`append` returns only once the transaction is committed to disk, so the
service answers 201 only for orders that survive a crash.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from basketcast.errors import UsageError
from basketcast.serve.domain import DuplicateOrder, PostedOrder
from runkit.locks import hold_lock

__all__ = [
    "POSTGRES_SCHEMES",
    "OrderStore",
    "PostgresStore",
    "SQLiteStore",
    "check_target",
    "open_store",
]

POSTGRES_SCHEMES = ("postgres://", "postgresql://")
"""The URLs of a PostgreSQL store (libpq's); any other ``scheme://`` is refused."""
_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_SCHEMA_VERSION = 1
_COLUMNS = (
    "order_id, user_id, order_dow, order_hour_of_day, days_since_prior_order, "
    "product_ids, received_at"
)


class OrderStore(Protocol):
    """Where posted orders live; replayed in `seq` order on startup."""

    def append(self, order: PostedOrder) -> PostedOrder:
        """Store `order` durably; raise `DuplicateOrder` if its id is taken."""
        ...

    def orders(self) -> Iterator[PostedOrder]:
        """Every stored order, oldest first."""
        ...

    def get(self, order_id: int) -> PostedOrder | None:
        """The stored order with this id, or None: what a retried post is compared with."""
        ...

    def count(self) -> int: ...

    def close(self) -> None: ...


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _row(order: PostedOrder) -> tuple[Any, ...]:
    return (
        order.order_id,
        order.user_id,
        order.order_dow,
        order.order_hour_of_day,
        order.days_since_prior_order,
        json.dumps(list(order.product_ids)),
        order.received_at or _now(),
    )


def _order(row: tuple[Any, ...]) -> PostedOrder:
    order_id, user_id, dow, hour, days, products, received = row
    return PostedOrder(
        order_id=int(order_id),
        user_id=int(user_id),
        product_ids=tuple(int(p) for p in json.loads(products)),
        order_dow=int(dow),
        order_hour_of_day=int(hour),
        days_since_prior_order=None if days is None else float(days),
        received_at=str(received),
    )


class SQLiteStore:
    """Posted orders in one SQLite file, in WAL mode with ``synchronous=FULL``.

    With FULL, a commit in WAL mode syncs the log before it returns, so an
    acknowledged order survives a process kill or a power cut. One connection
    serialised by a lock: SQLite takes one writer at a time anyway.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise UsageError(f"{self.path}: a folder; --db names the orders file itself")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One service per file: a second one's users would not see the first one's orders.
        self._holder = hold_lock(
            self.path.with_name(self.path.name + ".lock"),
            lambda pid: (
                f"{self.path} is in use by another basketcast serve (PID {pid}); stop "
                "it or give this one another --db"
            ),
        )
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
        except sqlite3.DatabaseError as exc:
            os.close(self._holder)
            raise UsageError(f"{self.path}: not a basketcast orders file ({exc})") from None
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS posted_orders ("
            " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            " order_id INTEGER NOT NULL UNIQUE,"
            " user_id INTEGER NOT NULL,"
            " order_dow INTEGER NOT NULL,"
            " order_hour_of_day INTEGER NOT NULL,"
            " days_since_prior_order REAL,"
            " product_ids TEXT NOT NULL,"
            " received_at TEXT NOT NULL)"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        self._db.execute(
            "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(_SCHEMA_VERSION),)
        )
        version = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if version[0] != str(_SCHEMA_VERSION):
            raise ValueError(f"{self.path}: order store schema {version[0]}, expected 1")

    @property
    def journal_mode(self) -> str:
        return str(self._db.execute("PRAGMA journal_mode").fetchone()[0])

    @property
    def synchronous(self) -> int:
        """2 is FULL."""
        return int(self._db.execute("PRAGMA synchronous").fetchone()[0])

    def append(self, order: PostedOrder) -> PostedOrder:
        row = _row(order)
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute(
                    f"INSERT INTO posted_orders ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", row
                )
                self._db.execute("COMMIT")
            except sqlite3.IntegrityError:
                self._db.execute("ROLLBACK")
                raise DuplicateOrder(
                    [f"order_id {order.order_id} was already posted to this service"]
                ) from None
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        return _order(row)

    def orders(self) -> Iterator[PostedOrder]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM posted_orders ORDER BY seq").fetchall()
        return (_order(r) for r in rows)

    def get(self, order_id: int) -> PostedOrder | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM posted_orders WHERE order_id = ?", (order_id,)
            ).fetchone()
        return None if row is None else _order(row)

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM posted_orders").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
        os.close(self._holder)  # releases the file for the next service


class PostgresStore:
    """Posted orders in a PostgreSQL table (the `postgres` extra: psycopg 3).

    Each append is its own committed transaction; with PostgreSQL's default
    ``synchronous_commit = on`` the commit returns after the WAL is flushed.
    """

    def __init__(self, url: str) -> None:
        try:
            import psycopg
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "a PostgreSQL order store needs psycopg: pip install 'basketcast[postgres]'"
            ) from exc
        self._errors = psycopg.errors
        self._lock = threading.Lock()
        self._db = psycopg.connect(url, autocommit=False)
        with self._db.transaction():
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS posted_orders ("
                " seq BIGSERIAL PRIMARY KEY,"
                " order_id BIGINT NOT NULL UNIQUE,"
                " user_id BIGINT NOT NULL,"
                " order_dow SMALLINT NOT NULL,"
                " order_hour_of_day SMALLINT NOT NULL,"
                " days_since_prior_order DOUBLE PRECISION,"
                " product_ids TEXT NOT NULL,"
                " received_at TEXT NOT NULL)"
            )
        self._db.commit()

    def append(self, order: PostedOrder) -> PostedOrder:
        row = _row(order)
        with self._lock:
            try:
                with self._db.transaction():
                    self._db.execute(
                        f"INSERT INTO posted_orders ({_COLUMNS}) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                        row,
                    )
                self._db.commit()
            except self._errors.UniqueViolation:
                self._db.rollback()
                raise DuplicateOrder(
                    [f"order_id {order.order_id} was already posted to this service"]
                ) from None
        return _order(row)

    def orders(self) -> Iterator[PostedOrder]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM posted_orders ORDER BY seq").fetchall()
            self._db.commit()
        return (_order(tuple(r)) for r in rows)

    def get(self, order_id: int) -> PostedOrder | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM posted_orders WHERE order_id = %s", (order_id,)
            ).fetchone()
            self._db.commit()
        return None if row is None else _order(tuple(row))

    def count(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT count(*) FROM posted_orders").fetchone()
            self._db.commit()
        return int(row[0]) if row else 0

    def close(self) -> None:
        with self._lock:
            self._db.close()


def check_target(target: str) -> None:
    """Raise `UsageError` for a URL of a database the service cannot use.

    Without this, ``mysql://host/x`` was taken for a file path, and a SQLite
    file ``x`` appeared under a new folder ``mysql:``.
    """
    url = _URL.match(target)
    if url is not None and not target.startswith(POSTGRES_SCHEMES):
        raise UsageError(
            f"--db {target}: a {url.group(1)}:// URL, which basketcast serve cannot use; "
            "give a SQLite file path or a postgresql:// URL"
        )


def open_store(target: str) -> OrderStore:
    """A PostgreSQL store for a ``postgres://`` or ``postgresql://`` URL, else a SQLite file."""
    check_target(target)
    if target.startswith(POSTGRES_SCHEMES):
        return PostgresStore(target)
    return SQLiteStore(target)
