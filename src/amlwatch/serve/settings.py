"""The service's settings: one frozen dataclass, validated once at startup."""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from servekit.security import is_loopback

__all__ = ["API_KEY_ENV", "Durability", "ServeSettings", "is_loopback"]

API_KEY_ENV = "AMLWATCH_API_KEY"
"""Environment variable holding the key that scoring requests (they write state) must present."""

_MIN_KEY_CHARS = 16


class Durability(StrEnum):
    """What an answered transaction survives (the state file's ``synchronous`` setting).

    Both run SQLite in WAL mode, and an answer comes only after its transaction's
    COMMIT has returned: its pages are then in the WAL file.
    """

    PROCESS = "process"
    """``synchronous=NORMAL``: the COMMIT writes the WAL to the operating system and does not
    wait for the disk. An answered transaction survives the server being killed (``kill -9``,
    a crash, an out-of-memory kill): the kernel still writes those pages to disk. An
    operating-system crash or a power cut can lose the transactions answered since the WAL
    was last synced (each checkpoint round syncs it first: every 128 commits, under a second
    at 200 transactions/s); never half a transaction: the file stays consistent."""
    POWER = "power"
    """``synchronous=FULL``: the COMMIT also waits for the WAL's fsync, so an answered
    transaction survives a power cut too; every answer waits for the disk."""

    @property
    def synchronous(self) -> str:
        """The SQLite ``PRAGMA synchronous`` value."""
        return "NORMAL" if self is Durability.PROCESS else "FULL"


@dataclass(frozen=True)
class ServeSettings:
    """What `amlwatch serve` was started with.

    Attributes
    ----------
    run_dir
        A finished `amlwatch run` folder.
    data_dir
        The history that warms the account state on first start (default: the
        run's data, `source` in its metrics.json); ignored once the state file exists.
    db
        The SQLite state file (default ``RUN/serve/state.sqlite3``).
    detector
        Serve this detector of the run instead of the default choice.
    api_key
        Required on scoring requests when set; mandatory when `host` is not loopback.
    max_body_bytes
        Larger request bodies get 413 before they are read in full.
    fast_path
        Answer plainly valid scoring POSTs without FastAPI's machinery
        (`amlwatch.serve.fastpath`; the same bytes). Off: every request goes
        through FastAPI (the parity test and the benchmark compare the two).
    durability
        What an answered transaction survives: `Durability.PROCESS` (the default: the
        server's death; no fsync on the answer path) or `Durability.POWER` (a power cut
        too; each answer waits for the disk's fsync). README.md says why the default.
    """

    run_dir: Path
    data_dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    db: Path | None = None
    detector: str | None = None
    api_key: str | None = None
    max_body_bytes: int = 16 * 1024
    history: bool = True
    fast_path: bool = True
    durability: Durability = Durability.PROCESS

    def __post_init__(self) -> None:
        try:  # a plain string (TOML, a test, the library) names the choice as the CLI does
            object.__setattr__(self, "durability", Durability(self.durability))
        except ValueError:
            choices = ", ".join(d.value for d in Durability)
            raise ValueError(
                f"durability must be one of {choices}, got {self.durability!r}"
            ) from None
        if not 0 <= self.port <= 65535:
            raise ValueError(f"--port must be in 0..65535, got {self.port}")
        if self.max_body_bytes < 1024:
            raise ValueError(f"max_body_bytes must be at least 1024, got {self.max_body_bytes}")
        if self.api_key is not None and len(self.api_key) < _MIN_KEY_CHARS:
            raise ValueError(f"{API_KEY_ENV} must be at least {_MIN_KEY_CHARS} characters")
        if not is_loopback(self.host) and not self.api_key:
            raise ValueError(
                f"binding to {self.host} exposes the service beyond this machine: set "
                f"{API_KEY_ENV} (scoring requests then need the header X-API-Key), "
                "or bind to 127.0.0.1"
            )

    @classmethod
    def from_env(cls, run_dir: str | Path, **values: object) -> ServeSettings:
        """Settings with the API key taken from the environment (never from a command line)."""
        key = os.environ.get(API_KEY_ENV) or None
        return cls(Path(run_dir), api_key=key, **values)  # type: ignore[arg-type]

    @property
    def db_path(self) -> Path:
        """The state file actually used."""
        return self.db or self.run_dir / "serve" / "state.sqlite3"
