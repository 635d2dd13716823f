"""The modelling commands as a user types them: synth → validate → run → predict → evaluate."""

from __future__ import annotations

import json

import polars as pl
import pytest
from typer.testing import CliRunner

from basketcast.cli import app

runner = CliRunner()

FAST_TOML = """
threads = 1
[features]
history_targets = 1
[model]
folds = 2
num_boost_round = 40
early_stopping_rounds = 10
"""


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    result = runner.invoke(
        app, ["synth", "--users", "300", "--seed", "303", "--out", str(root / "data")]
    )
    assert result.exit_code == 0, result.output
    (root / "fast.toml").write_text(FAST_TOML)
    return root


def test_run_then_predict_then_evaluate(workspace):
    data, run, config = workspace / "data", workspace / "run", workspace / "fast.toml"
    result = runner.invoke(
        app, ["run", str(data), "--out", str(run), "--config", str(config), "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    assert "mean F1" in result.output and "report.html" in result.output
    # The tables fit the runner's 80 columns whole: no name or figure is cut to "…".
    assert "…" not in result.output
    lines = [line for line in result.output.splitlines() if not line.startswith("warning:")]
    assert max(len(line) for line in lines) <= 80
    p_none = json.loads((run / "metrics.json").read_text())["p_none"]
    said = " ".join(result.output.split())  # Rich wraps long lines
    assert f"p(None): auto chose {p_none['chosen']} by out-of-fold F1" in said
    assert all(f"{k} {v:.4f}" in said for k, v in p_none["oof_f1"].items())

    result = runner.invoke(
        app, ["predict", str(run), str(data), "--out", str(workspace / "again.csv")]
    )
    assert result.exit_code == 0, result.output
    again = pl.read_csv(workspace / "again.csv")
    submission = pl.read_csv(run / "submission.csv")
    assert again.join(submission, on="order_id", how="semi").equals(submission)

    result = runner.invoke(app, ["evaluate", str(run / "submission.csv"), str(data / "truth.csv")])
    assert result.exit_code == 0, result.output
    assert "mean F1" in result.output


def test_features_command_writes_the_table(workspace):
    out = workspace / "features.parquet"
    args = [
        "features",
        str(workspace / "data"),
        "--out",
        str(out),
        "--config",
        str(workspace / "fast.toml"),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    frame = pl.read_parquet(out)
    assert frame.columns[:5] == ["order_id", "user_id", "product_id", "depth", "label"]
    assert sorted(frame["depth"].unique().to_list()) == [0, 1]


def test_run_on_a_missing_folder_exits_2(tmp_path):
    result = runner.invoke(app, ["run", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert not (tmp_path / "out").exists()


def test_predict_from_a_folder_that_is_not_a_run_exits_2(workspace, tmp_path):
    result = runner.invoke(
        app, ["predict", str(tmp_path), str(workspace / "data"), "--out", str(tmp_path / "x.csv")]
    )
    assert result.exit_code == 2
    assert "no item models" in result.output


def test_a_run_given_relative_paths_records_its_data_folder_absolutely(workspace, monkeypatch):
    monkeypatch.chdir(workspace)
    result = runner.invoke(
        app, ["run", "data", "--out", "relative-run", "--config", "fast.toml", "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    recorded = json.loads((workspace / "relative-run" / "metrics.json").read_text())["data"]
    assert recorded == str((workspace / "data").resolve())  # serve and report work from anywhere


def test_predict_will_not_write_over_an_output_the_run_published(workspace):
    data, run = workspace / "data", workspace / "run"
    if not (run / "submission.csv").exists():  # made by the first test of this module
        pytest.skip("needs the run of test_run_then_predict_then_evaluate")
    before = (run / "submission.csv").read_bytes()
    result = runner.invoke(
        app, ["predict", str(run), str(data), "--out", str(run / "submission.csv")]
    )
    assert result.exit_code == 2 and "an output the run published" in " ".join(
        result.output.split()
    )
    assert (run / "submission.csv").is_symlink() and (run / "submission.csv").read_bytes() == before
