"""`basketcast importance` and `basketcast report` on a real (tiny) run folder."""

from __future__ import annotations

import json

import polars as pl
import pytest
from typer.testing import CliRunner

from basketcast.cli import app
from basketcast.importance import load_run

runner = CliRunner()

FAST_TOML = """
threads = 1
[features]
history_targets = 1
[model]
folds = 2
num_boost_round = 40
early_stopping_rounds = 10
device = "cpu"
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("explain")
    data, run = root / "data", root / "run"
    result = runner.invoke(app, ["synth", "--users", "200", "--seed", "7", "--out", str(data)])
    assert result.exit_code == 0, result.output
    (root / "fast.toml").write_text(FAST_TOML)
    result = runner.invoke(
        app, ["run", str(data), "--out", str(run), "--config", str(root / "fast.toml")]
    )
    assert result.exit_code == 0, result.output
    return run


def test_load_run_reads_the_models_and_families(run_dir) -> None:
    run = load_run(run_dir)
    assert run.trained_folds == (0, 1)
    assert {"user", "product", "user_product"} <= set(run.families)
    covered = [c for cols in run.families.values() for c in cols]
    assert sorted(covered) == sorted(run.feature_names)  # every feature in exactly one family


def test_importance_commands_write_files_and_the_report_shows_them(run_dir) -> None:
    before = (run_dir / "report.html").read_text()
    assert 'id="explanations"' not in before
    for args in (
        ["--method", "gain"],
        ["--method", "shap", "--rows", "500", "--by", "family"],
        ["--method", "lofo", "--folds", "0", "--user-share", "0.5", "--together", "user,product"],
    ):
        result = runner.invoke(app, ["importance", str(run_dir), *args])
        assert result.exit_code == 0, result.output
        assert "computed on:" in result.output
    lofo = json.loads((run_dir / "importance-lofo.json").read_text())
    assert lofo["by"] == "family" and lofo["settings"]["folds"] == [0]
    assert lofo["settings"]["user_share"] == 0.5
    assert "user + product" in pl.read_parquet(run_dir / "importance-lofo.parquet")["name"]
    assert (run_dir / "importance-shap.png").exists()

    inode = (run_dir / "report.html").stat().st_ino
    result = runner.invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    after = (run_dir / "report.html").read_text()
    assert (run_dir / "report.html").stat().st_ino != inode  # a new file renamed into place
    assert 'id="explanations"' in after
    for title in ("Gain by feature", "SHAP by family", "Leave one out (LOFO) by family"):
        assert title in after
    assert "Stale" not in after
    assert not list(run_dir.glob(".*.tmp"))


def test_importance_of_a_folder_that_is_not_a_run_exits_2(tmp_path) -> None:
    result = runner.invoke(app, ["importance", str(tmp_path)])
    assert result.exit_code == 2
    assert "metrics.json" in result.output
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2


def test_unknown_method_is_refused(run_dir) -> None:
    result = runner.invoke(app, ["importance", str(run_dir), "--method", "permutation"])
    assert result.exit_code == 2
