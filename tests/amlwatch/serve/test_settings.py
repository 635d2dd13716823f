"""Security defaults and startup errors, without a server; amlwatch.serve stands alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from amlwatch.cli import app
from amlwatch.serve.settings import API_KEY_ENV, ServeSettings


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


def test_amlwatch_serve_does_not_import_basketcast() -> None:
    code = (
        "import importlib, pkgutil, sys, amlwatch.serve, amlwatch.cli\n"
        "for m in pkgutil.walk_packages(amlwatch.serve.__path__, 'amlwatch.serve.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(sorted(k for k in sys.modules if k.split('.')[0] == 'basketcast'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
