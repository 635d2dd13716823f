"""Security defaults and startup errors, without a server; amlwatch.serve stands alone."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from amlwatch.cli import app
from amlwatch.serve.settings import API_KEY_ENV, Durability, ServeSettings
from amlwatch.serve.store import StateStore


def test_binding_beyond_loopback_needs_an_api_key(tmp_path: Path) -> None:
    assert ServeSettings(tmp_path).host == "127.0.0.1"
    with pytest.raises(ValueError, match=API_KEY_ENV):
        ServeSettings(tmp_path, host="0.0.0.0")
    with pytest.raises(ValueError, match="at least 16"):
        ServeSettings(tmp_path, host="0.0.0.0", api_key="short")
    assert ServeSettings(tmp_path, host="0.0.0.0", api_key="k" * 16).api_key == "k" * 16
    assert ServeSettings(tmp_path, host="::1").host == "::1"


def test_the_cli_refuses_an_open_bind_and_a_non_run_with_exit_code_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    runner = CliRunner()
    open_bind = runner.invoke(app, ["serve", str(tmp_path), "--host", "0.0.0.0"])
    assert open_bind.exit_code == 2 and API_KEY_ENV in open_bind.output
    not_a_run = runner.invoke(app, ["serve", str(tmp_path), "--db", str(tmp_path / "s.db")])
    assert not_a_run.exit_code == 2 and "config.json" in not_a_run.output
    assert not (tmp_path / "s.db").exists()  # nothing written for a bad start


def test_durability_is_process_by_default_and_sets_the_state_files_synchronous(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert ServeSettings(tmp_path).durability is Durability.PROCESS
    assert ServeSettings(tmp_path, durability="power").durability is Durability.POWER  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"process, power, got 'fsync'"):
        ServeSettings(tmp_path, durability="fsync")  # type: ignore[arg-type]
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    bad = CliRunner().invoke(app, ["serve", str(tmp_path), "--durability", "fsync"])
    assert bad.exit_code == 2 and "durability must be one of process, power" in bad.output
    # PRAGMA synchronous: 1 = NORMAL (the COMMIT writes the WAL, no fsync), 2 = FULL.
    for durability, level in ((Durability.PROCESS, 1), (Durability.POWER, 2)):
        store = StateStore(tmp_path / f"{durability}.sqlite3", durability=durability)
        assert store._db.execute("PRAGMA synchronous").fetchone()[0] == level
        assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        store.close()
        with sqlite3.connect(tmp_path / f"{durability}.sqlite3") as db:  # WAL mode persists
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_amlwatch_serve_does_not_import_basketcast() -> None:
    code = (
        "import importlib, pkgutil, sys, amlwatch.serve, amlwatch.cli\n"
        "for m in pkgutil.walk_packages(amlwatch.serve.__path__, 'amlwatch.serve.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(sorted(k for k in sys.modules if k.split('.')[0] == 'basketcast'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_one_service_per_state_file_and_a_clear_error_for_a_wrong_one(tmp_path: Path) -> None:
    from runkit.locks import LockBusy, hold_lock

    path = tmp_path / "state.sqlite3"
    first = StateStore(path)
    with pytest.raises(LockBusy, match=rf"in use by another amlwatch serve \(PID {os.getpid()}\)"):
        StateStore(path)  # a second service would write the same event numbers
    first.close()
    StateStore(path).close()  # released on close (and by the kernel when a service dies)
    with pytest.raises(IsADirectoryError, match="--db names the state file itself"):
        StateStore(tmp_path)
    (tmp_path / "notes.txt").write_text("not a database, but long enough to be read as one " * 40)
    with pytest.raises(ValueError, match="not an amlwatch state file"):
        StateStore(tmp_path / "notes.txt")
    os.close(hold_lock(tmp_path / "notes.txt.lock", str))  # the refused store let its lock go
