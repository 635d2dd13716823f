"""The service's settings: one frozen dataclass, validated once at startup."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from basketcast.errors import UsageError
from basketcast.serve.store import check_target
from servekit.security import is_loopback

__all__ = ["API_KEY_ENV", "ServeSettings", "is_loopback"]

API_KEY_ENV = "BASKETCAST_API_KEY"
"""Environment variable holding the key that writes and reloads must present."""

_MIN_KEY_CHARS = 16


@dataclass(frozen=True)
class ServeSettings:
    """What `basketcast serve` was started with.

    Attributes
    ----------
    run_dir
        A finished run folder; `reload` re-reads this folder and no other.
    data_dir
        The order history the run was trained on (default: the `data` path
        in the run's metrics.json).
    db
        SQLite file for posted orders, or a ``postgresql://`` URL
        (default: ``RUN/serve/orders.sqlite3``).
    api_key
        Required for writes and reloads; mandatory when `host` is not loopback.
    max_body_bytes
        Larger request bodies get 413 before they are read in full.
    answer_cache
        Answers kept per (user, context); a user's entries go when they post.
    workers
        Batches of requests scored at once, each on its own thread (0: on the
        event loop's thread, one batch at a time). 0 by default: a batch costs
        about a millisecond on the NumPy request path, less than handing it to a
        thread under the GIL; requests that arrive while a batch is scored join
        the next one.
    fast_path
        Answer plainly valid next-basket GETs without FastAPI's routing
        (`basketcast.serve.fastpath`; same bytes). Off: every request goes
        through FastAPI (the tests compare the two).
    """

    run_dir: Path
    data_dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    db: str | None = None
    api_key: str | None = None
    max_body_bytes: int = 64 * 1024
    answer_cache: int = 100_000
    workers: int = 0
    fast_path: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise UsageError(f"--port must be in 0..65535, got {self.port}")
        if self.workers < 0:
            raise UsageError(f"workers must be at least 0, got {self.workers}")
        if self.max_body_bytes < 1024:
            raise UsageError(f"max_body_bytes must be at least 1024, got {self.max_body_bytes}")
        if self.api_key is not None and len(self.api_key) < _MIN_KEY_CHARS:
            raise UsageError(f"{API_KEY_ENV} must be at least {_MIN_KEY_CHARS} characters")
        if self.db:  # before the data is loaded: a wrong URL fails at once
            check_target(self.db)
        if not is_loopback(self.host) and not self.api_key:
            raise UsageError(
                f"binding to {self.host} exposes the service beyond this machine: set "
                f"{API_KEY_ENV} (writes and reloads then need the header X-API-Key), "
                "or bind to 127.0.0.1"
            )

    @classmethod
    def from_env(cls, run_dir: str | Path, **values: object) -> ServeSettings:
        """Settings with the API key taken from the environment (never from a command line)."""
        key = os.environ.get(API_KEY_ENV) or None
        return cls(Path(run_dir), api_key=key, **values)  # type: ignore[arg-type]

    @property
    def db_target(self) -> str:
        """The database actually used: the given one, or the run folder's default file."""
        return self.db or str(self.run_dir / "serve" / "orders.sqlite3")
