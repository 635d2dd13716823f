"""The CLI end to end on a small world: synth -> validate -> run -> report; bad input -> exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from amlwatch.cli import app

runner = CliRunner()

FAST_CONFIG = """
[run]
seed = 1
[graph]
window_days = 20
[[detector]]
name = "rules"
kind = "rules"
[[detector]]
name = "iforest"
kind = "iforest"
params = { n_estimators = 20 }
[[detector]]
name = "xgboost_graph"
kind = "xgboost"
params = { rounds = 20, families = ["transaction", "account", "pair", "graph"] }
"""


def test_synth_validate_run(tmp_path: Path) -> None:
    data = tmp_path / "world"
    res = runner.invoke(
        app,
        [
            "synth",
            "--out",
            str(data),
            "--transactions",
            "6000",
            "--days",
            "50",
            "--rate",
            "0.01",
            "--seed",
            "2",
        ],
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["validate", str(data)])
    assert res.exit_code == 0 and "OK:" in res.output
    cfg = tmp_path / "run.toml"
    cfg.write_text(FAST_CONFIG)
    out = tmp_path / "run"
    res = runner.invoke(app, ["run", str(data), "--out", str(out), "--config", str(cfg)])
    assert res.exit_code == 0, res.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert [r["detector"] for r in metrics["evaluation"]] == ["rules", "iforest", "xgboost_graph"]
    # The terminal table (80 columns here) names every row in full.
    assert all(name in res.output for name in ("rules", "iforest", "xgboost_graph"))
    # Every warning of the run (a 6,000-transaction world has few laundering rows) is printed.
    assert metrics["warnings"]
    printed = " ".join(res.output.split())
    assert all(" ".join(w.split()) in printed for w in metrics["warnings"])
    assert set(metrics["rule_hits_test"]) == {"many_transfers_large_amount", "listed_country"}
    html = (out / "report.html").read_text()
    for section in (
        "Evaluation",
        "Precision-recall",
        "Recall per typology",
        "Alert volume",
        "gather-scatter",
    ):
        assert section in html
    assert (out / "models" / "xgboost_graph.ubj").exists()
    assert not list(out.glob(".*.tmp"))


def test_bad_input_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "bad"
    data.mkdir()
    (data / "transactions.csv").write_text("Timestamp,Amount\n2022/09/01 00:20,5\n")
    out = tmp_path / "run"
    res = runner.invoke(app, ["run", str(data), "--out", str(out)])
    assert res.exit_code == 2
    assert "header does not match" in res.output
    assert not out.exists() or not any(out.iterdir())
    assert runner.invoke(app, ["validate", str(tmp_path / "missing")]).exit_code == 2


def test_an_out_path_that_is_a_file_exits_2_and_leaves_the_file(tmp_path: Path) -> None:
    taken = tmp_path / "notes.txt"
    taken.write_text("keep me")
    for args in (
        ["run", str(tmp_path / "missing-data"), "--out", str(taken)],
        ["synth", "--out", str(taken), "--transactions", "2000", "--days", "40"],
    ):
        res = runner.invoke(app, args)
        assert res.exit_code == 2, res.output
        shown = " ".join(res.output.split())
        assert f"cannot use {taken}" in shown or f"cannot write {taken}" in shown, shown
        assert "Traceback" not in res.output
    assert taken.read_text() == "keep me"


SMALL = ["--transactions", "1000", "--days", "40"]


def test_synth_takes_out_and_format_as_basketcast_synth_does(tmp_path: Path) -> None:
    res = runner.invoke(app, ["synth", "--out", str(tmp_path / "p"), "--format", "parquet", *SMALL])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == [
        "accounts.parquet", "transactions.parquet",
    ]  # fmt: skip
    res = runner.invoke(app, ["synth", "--out", str(tmp_path / "c"), *SMALL])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "c" / "transactions.csv").exists()  # csv by default


def test_synth_still_takes_the_old_positional_out_and_parquet(tmp_path: Path) -> None:
    res = runner.invoke(app, ["synth", str(tmp_path / "old"), "--parquet", *SMALL])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "old" / "transactions.parquet").exists()
    assert "old form" in res.output  # a note on stderr, pointing to --out and --format


def test_synth_usage_line_shows_only_the_current_form() -> None:
    res = runner.invoke(app, ["synth", "--help"], prog_name="amlwatch", terminal_width=200)
    assert res.exit_code == 0, res.output
    usage = next(line for line in res.output.splitlines() if "Usage:" in line)
    assert usage.split("Usage:")[1].split() == ["amlwatch", "synth", "[OPTIONS]"]  # not [OUT]
    assert "--out" in res.output and "--parquet" not in res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["OLD", "--out", "NEW"], "give the folder once"),
        (["--out", "NEW", "--parquet", "--format", "csv"], "contradicts --format csv"),
        (["--out", "NEW", "--format", "json"], "--format must be csv or parquet, not 'json'"),
        ([], "required: the folder"),
    ],
)
def test_synth_conflicting_or_missing_options_are_one_error_exit_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    args = [str(tmp_path / a) if a in ("OLD", "NEW") else a for a in args]
    res = runner.invoke(app, ["synth", *args, *SMALL])
    assert res.exit_code == 2, res.output
    assert message in " ".join(res.output.replace("│", " ").split())
    assert not any(tmp_path.iterdir())  # refused before anything is written


def test_bad_detector_config_exits_2_before_reading_data(tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text(FAST_CONFIG.replace("n_estimators", "n_estimator"))
    out = tmp_path / "run"
    res = runner.invoke(app, ["run", str(tmp_path), "--out", str(out), "--config", str(config)])
    assert res.exit_code == 2
    assert "run.toml" in res.output and "['n_estimator']" in res.output
    assert not out.exists()


def test_run_without_labels_alerts_but_does_not_evaluate(small_world, tmp_path: Path) -> None:
    from amlwatch.config import DetectorSpec, RunConfig
    from amlwatch.pipeline import run
    from amlwatch.synth import write_world

    data = write_world(small_world, tmp_path / "world")
    text = (data / "transactions.csv").read_text().splitlines()
    # Drop `Is Laundering`, `Typology`, `Ring ID`: what a bank's live data looks like.
    (data / "transactions.csv").write_text(
        "\n".join(",".join(line.split(",")[:10]) for line in text) + "\n"
    )
    cfg = RunConfig(
        detectors=(
            DetectorSpec("rules", "rules"),
            DetectorSpec("iforest", "iforest", {"n_estimators": 20}),
            DetectorSpec("xgboost", "xgboost", {"rounds": 5}),
        )
    )
    result = run(data, tmp_path / "run", cfg)
    assert result.table is None
    assert any("xgboost: skipped" in w for w in result.warnings)
    assert set(result.alerts.get_column("detector").unique()) <= {"rules", "iforest"}
    # Isolation Forest alerts at its contamination share (0.1 %) of the training period: few.
    share = (result.alerts.get_column("detector") == "iforest").sum() / result.test_frame.height
    assert share < 0.02
    assert {"txn_id", "score", "reasons"} <= set(result.alerts.columns)
    assert (tmp_path / "run" / "report.html").exists()


def test_run_warns_when_the_validation_period_holds_no_laundering(small_ledger, tmp_path) -> None:
    """Thresholds cannot be chosen without laundering in validation: the run says so, loudly."""
    import dataclasses

    import polars as pl

    from amlwatch.config import DetectorSpec, RunConfig
    from amlwatch.evaluate import temporal_split
    from amlwatch.pipeline import run

    tx = small_ledger.transactions
    valid = temporal_split(tx.height).valid
    in_valid = pl.Series(
        (np.arange(tx.height) >= valid.start) & (np.arange(tx.height) < valid.stop)
    )
    assert int(tx.filter(in_valid).get_column("is_laundering").sum()) > 0
    unlabelled_valid = dataclasses.replace(
        small_ledger,
        transactions=tx.with_columns(
            pl.when(in_valid).then(0).otherwise(pl.col("is_laundering")).alias("is_laundering")
        ),
    )
    cfg = RunConfig(detectors=(DetectorSpec("xgboost", "xgboost", {"rounds": 5}),))
    result = run(unlabelled_valid, tmp_path / "run", cfg)
    assert any("validation period" in w and "holds no laundering" in w for w in result.warnings)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["warnings"] == result.warnings
    assert "holds no laundering" in (tmp_path / "run" / "report.html").read_text()
    # With nothing to catch, the F-beta threshold alerts on nothing.
    assert result.table is not None and result.table.get_column("alerts_per_10k").to_list() == [0.0]


def test_a_run_with_another_beta_reports_that_f_score(small_world, tmp_path: Path) -> None:
    from amlwatch.synth import write_world

    data = write_world(small_world, tmp_path / "world")
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        '[run]\nbeta = 0.5\nbudgets = [25]\n[[detector]]\nname = "xgboost_tabular"\n'
        'kind = "xgboost"\n'
        'params = { rounds = 5, families = ["transaction", "account", "pair"] }\n'
    )
    out = tmp_path / "run"
    args = ["run", str(data), "--out", str(out), "--config", str(cfg), "--threads", "1"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert json.loads((out / "config.json").read_text())["threads"] == 1
    assert "f0.5" in res.output and "xgboost_tabular" in res.output
    assert "rec@25" in res.output  # recall at the run's own first alert budget
    assert "<th>f0.5</th>" in (out / "report.html").read_text()
    (row,) = json.loads((out / "metrics.json").read_text())["evaluation"]
    assert 0.0 <= row["f0.5"] <= 1.0 and "f2" not in row


def test_warnings_print_config_brackets_verbatim(capsys) -> None:
    from amlwatch.cli import _print_warnings

    _print_warnings(['use `threshold = "budget"` in [run]'])
    assert 'use `threshold = "budget"` in [run]' in capsys.readouterr().err


def test_the_thread_budget_is_read_from_argv_before_openmp_starts(tmp_path: Path) -> None:
    from amlwatch.cli import _early_threads

    cfg = tmp_path / "run.toml"
    cfg.write_text("[run]\nthreads = 3\n")
    assert _early_threads(["run", "d", "--out", "r", "--threads", "5"]) == 5
    assert _early_threads(["run", "d", "--threads=4", "--config", str(cfg)]) == 4  # flag wins
    assert _early_threads(["run", "d", "--config", str(cfg)]) == 3
    assert _early_threads([f"--config={cfg}", "run", "d"]) == 3
    assert _early_threads(["demo"]) == 0  # 0: every core
    assert _early_threads(["serve", "run", "--threads", "8"]) == 1  # measured on one thread
    # Unreadable or odd input is left to load_config and typer to report properly.
    assert _early_threads(["run", "d", "--config", str(tmp_path / "missing.toml")]) == 0
    assert _early_threads(["run", "d", "--threads", "many"]) == 0


def test_dash_h_is_help_as_in_basketcast() -> None:
    for args in (["-h"], ["run", "-h"], ["serve", "-h"]):
        res = runner.invoke(app, args)
        assert res.exit_code == 0, res.output
        assert res.output.lstrip().startswith("Usage:") and "--help" in res.output


def test_version_and_too_short_input(tmp_path: Path) -> None:
    from amlwatch import __version__

    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.strip() == f"amlwatch {__version__}"
    data = tmp_path / "short"
    data.mkdir()
    (data / "transactions.csv").write_text(
        "Timestamp,From Bank,Account,To Bank,Account,Amount Received,Receiving Currency,"
        "Amount Paid,Payment Currency,Payment Format\n"
        "2022/09/01 00:20,010,A,010,B,1,US Dollar,1,US Dollar,ACH\n"
    )
    assert runner.invoke(app, ["validate", str(data)]).exit_code == 0  # valid data
    res = runner.invoke(app, ["run", str(data), "--out", str(tmp_path / "run")])
    assert res.exit_code == 2
    assert "1 transaction(s); a run needs at least 3" in " ".join(res.output.split())
    assert not (tmp_path / "run").exists()  # said before the run folder is made
