"""Binding beyond loopback needs an API key; bad settings are refused before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from basketcast.cli import app
from basketcast.serve.settings import ServeSettings, is_loopback


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.0.2", True), ("localhost", True), ("::1", True),
     ("0.0.0.0", False), ("10.1.2.3", False), ("::", False), ("example.org", False)],
)  # fmt: skip
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_public_bind_needs_a_key(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="BASKETCAST_API_KEY"):
        ServeSettings(tmp_path, host="0.0.0.0")
    with pytest.raises(ValueError, match="at least 16"):
        ServeSettings(tmp_path, host="0.0.0.0", api_key="short")
    assert ServeSettings(tmp_path, host="0.0.0.0", api_key="k" * 16).api_key == "k" * 16
    assert ServeSettings(tmp_path).db_target == str(tmp_path / "serve" / "orders.sqlite3")


def test_the_cli_refuses_a_public_bind_without_a_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BASKETCAST_API_KEY", raising=False)
    result = CliRunner().invoke(app, ["serve", str(tmp_path), "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "BASKETCAST_API_KEY" in result.output


def test_the_cli_names_a_folder_that_is_not_a_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BASKETCAST_API_KEY", raising=False)
    result = CliRunner().invoke(app, ["serve", str(tmp_path), "--data", str(tmp_path)])
    assert result.exit_code == 2
    assert str(tmp_path) in result.output


@pytest.mark.parametrize("db", ["mysql://host/x", "sqlite:///orders.sqlite3", "POSTGRESQL://h/x"])
def test_the_cli_refuses_a_db_url_it_cannot_use_and_creates_nothing(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: the URL was taken for a path, and a SQLite file appeared under `mysql:/host/`."""
    monkeypatch.delenv("BASKETCAST_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    result = CliRunner().invoke(app, ["serve", str(run), "--db", db])
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())  # Rich may wrap the line
    assert db in message and "SQLite file path" in message and "postgresql://" in message
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["run"]
