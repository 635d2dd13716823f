"""A real finished run, and real `basketcast serve` processes on free loopback ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pytest

pytest.importorskip("fastapi")  # the `serve` extra; part of `dev`
pytest.importorskip("httpx")

from basketcast import pipeline
from basketcast.client import BasketClient
from basketcast.config import load_config
from basketcast.data.sources.synthetic import synthetic, write_synthetic

API_KEY = "test-key-0123456789abcdef"
_STARTUP_S = 120.0
_ENV = {
    "OMP_NUM_THREADS": "1",
    "POLARS_MAX_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}
FAST = {
    "threads": 1,
    "model.folds": 2,
    "model.num_boost_round": 40,
    "model.early_stopping_rounds": 10,
    "features.history_targets": 0,
    # The tests serve the None model's p(None): fixed here, not left to `auto`'s choice.
    "basket.p_none": "model",
}


@dataclass(frozen=True)
class Run:
    data: Path
    out: Path

    def orders(self) -> pl.DataFrame:
        return pl.read_parquet(self.data / "orders.parquet")

    def test_users(self) -> list[int]:
        test = self.orders().filter(pl.col("eval_set") == "test").sort("user_id")
        return test.get_column("user_id").to_list()


@pytest.fixture(scope="session")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A finished run on 300 synthetic users (2 folds, item and None models)."""
    root = tmp_path_factory.mktemp("serve-run")
    data, out = root / "data", root / "run"
    write_synthetic(synthetic(300, seed=7, threads=1), data, format="parquet")
    pipeline.run(data, out, config=load_config(**FAST))
    return Run(data=data, out=out)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """One `basketcast serve` subprocess."""

    run: Run
    db: Path
    api_key: str | None = API_KEY
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    env: dict[str, str] = field(default_factory=dict)  # over this process's, for this server

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, *, api_key: str | None = None) -> BasketClient:
        return BasketClient(self.url, api_key=api_key or self.api_key)

    def start(self) -> Server:
        env = {**os.environ, **_ENV, **self.env}
        env.pop("BASKETCAST_API_KEY", None)
        if self.api_key:
            env["BASKETCAST_API_KEY"] = self.api_key
        self.log = self.db.with_suffix(f".{self.port}.log")
        command = [
            sys.executable,
            "-c",
            "from basketcast._entry import main; main()",
            "serve",
            str(self.run.out),
            "--data",
            str(self.run.data),
            "--port",
            str(self.port),
            "--db",
            str(self.db),
        ]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        import httpx

        deadline = time.monotonic() + _STARTUP_S
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited {self.process.returncode}: {self.tail()}")
            try:
                if httpx.get(f"{self.url}/v1/health", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"server not ready after {_STARTUP_S} s: {self.tail()}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.alive():
            assert self.process is not None
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> int:
        """SIGTERM: a graceful shutdown; returns the exit code."""
        assert self.process is not None
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def tail(self) -> str:
        return self.log.read_text()[-3000:] if self.log and self.log.exists() else ""


@pytest.fixture
def server_factory(run: Run, tmp_path: Path) -> Iterator[type[Server]]:
    """Servers started by a test are killed when it ends, whatever happened."""
    started: list[Server] = []

    class Tracked(Server):
        def start(self) -> Server:
            started.append(self)
            return super().start()

    def make(**kwargs: object) -> Server:
        kwargs.setdefault("db", tmp_path / "orders.sqlite3")
        kwargs.setdefault("run", run)
        return Tracked(**kwargs)  # type: ignore[arg-type]

    yield make  # type: ignore[misc]
    for server in started:
        server.kill()


@pytest.fixture(scope="module")
def server(run: Run, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server shared by a module's read-mostly tests."""
    db = tmp_path_factory.mktemp("serve-db") / "orders.sqlite3"
    started = Server(run=run, db=db).start()
    yield started
    started.kill()
