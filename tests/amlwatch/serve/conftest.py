"""A small synthetic world split in time, a finished run on its history, real `amlwatch serve`s.

The world's first 70 % (by time) is the history: the run is trained on it and
the service warms its account state from it. The rest is the stream the tests
send, transaction by transaction, to a real uvicorn process over loopback.
"""

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
from typing import Any

import polars as pl
import pytest

pytest.importorskip("fastapi")  # the `serve` extra; part of `dev`
pytest.importorskip("httpx")
pytest.importorskip("onnxruntime")  # the `gan` extra: the served GAN is its ONNX graph

from amlwatch.config import DetectorSpec, RunConfig
from amlwatch.data.ledger import Ledger
from amlwatch.synth import SynthConfig, World, generate, to_ledger, write_world

API_KEY = "aml-test-key-0123456789"
HISTORY_SHARE = 0.7
_STARTUP_S = 300.0  # generous: a loaded 2-core machine starts slowly
THREADS = {k: "1" for k in ("OMP_NUM_THREADS", "POLARS_MAX_THREADS", "NUMBA_NUM_THREADS",
                            "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}  # fmt: skip
TINY_GAN = {"max_epochs": 2, "epoch_rows": 3000, "batch_size": 256, "patience": 1}
DETECTORS = (
    DetectorSpec("rules", "rules"),
    DetectorSpec("xgboost_tabular", "xgboost",
                 {"families": ["transaction", "account", "pair"], "rounds": 20}),
    DetectorSpec("gan", "gan", {"gan": TINY_GAN}),
)  # fmt: skip


@dataclass(frozen=True)
class Run:
    """The world in time order, its history folder, and the run folder trained on the history."""

    world: World
    history: Path
    out: Path
    n_history: int

    def ledger(self) -> Ledger:
        return to_ledger(self.world)

    def stream(self) -> pl.DataFrame:
        """The transactions after the history, in the order they are sent."""
        return self.world.transactions.slice(self.n_history)


def _sorted_world(world: World) -> World:
    tx = world.transactions.with_row_index("_i").sort("timestamp", "_i").drop("_i")
    return World(tx, world.accounts, world.config)


@pytest.fixture(scope="session")
def world() -> World:
    """A small world in time order (the order the stream is sent in)."""
    config = SynthConfig(n_transactions=6_000, days=45, laundering_rate=0.01, n_banks=6, seed=5)
    return _sorted_world(generate(config))


@pytest.fixture(scope="session")
def aml_run(world: World, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """`amlwatch run` (rules, XGBoost on streamable features, a small GAN) on the history."""
    from amlwatch.pipeline import run

    root = tmp_path_factory.mktemp("aml-serve")
    n_history = int(world.transactions.height * HISTORY_SHARE)
    history = World(world.transactions.head(n_history), world.accounts, world.config)
    write_world(history, root / "history")
    run(root / "history", root / "run", RunConfig(seed=0, detectors=DETECTORS))
    return Run(world, root / "history", root / "run", n_history)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def body(row: dict[str, Any]) -> dict[str, Any]:
    """A stream row as the service's JSON body (AMLworld's timestamp format)."""
    out = {k: row[k] for k in ("from_bank", "from_account", "to_bank", "to_account",
                               "amount_received", "receiving_currency", "amount_paid",
                               "payment_currency", "payment_format")}  # fmt: skip
    out["timestamp"] = row["timestamp"].strftime("%Y/%m/%d %H:%M")
    return out


@dataclass
class Server:
    """One `amlwatch serve` subprocess on a free loopback port."""

    run: Run
    db: Path
    api_key: str | None = None
    extra: tuple[str, ...] = ()
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, "-c", "from amlwatch.cli import app; app(prog_name='amlwatch')",
                "serve", str(self.run.out), "--port", str(self.port), "--db", str(self.db),
                *self.extra]  # fmt: skip

    def start(self) -> Server:
        env = {**os.environ, **THREADS}
        env.pop("AMLWATCH_API_KEY", None)
        if self.api_key:
            env["AMLWATCH_API_KEY"] = self.api_key
        self.log = self.db.with_suffix(f".{self.port}.log")
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                self.command(), env=env, stdout=log, stderr=subprocess.STDOUT
            )
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
def server_factory(aml_run: Run, tmp_path: Path) -> Iterator[Any]:
    """Servers a test starts are killed when it ends, whatever happened."""
    started: list[Server] = []

    def make(**kwargs: Any) -> Server:
        kwargs.setdefault("db", tmp_path / "state.sqlite3")
        kwargs.setdefault("run", aml_run)
        server = Server(**kwargs)
        started.append(server)
        return server

    yield make
    for server in started:
        server.kill()


@pytest.fixture(scope="module")
def server(aml_run: Run, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server (the run's GAN, warmed from the history) shared by a module's tests."""
    db = tmp_path_factory.mktemp("aml-serve-db") / "state.sqlite3"
    started = Server(run=aml_run, db=db).start()
    yield started
    started.kill()
