"""`amlwatch score`: a run's detectors and thresholds applied, unchanged, to later transactions.

The known answer: a world's file cut in two by time, a run on the first part,
and the second part scored with the first as history give every new row the
score the run's booster gives that row in the features of the whole file
(the features are past-only, so the history is all they need).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import xgboost as xgb
from typer.testing import CliRunner

from amlwatch.cases import assign_cases
from amlwatch.cli import app
from amlwatch.config import config_from_dict
from amlwatch.data import load_ledger
from amlwatch.features import build_features
from amlwatch.pipeline import ALERT_IDENTITY
from amlwatch.score import score
from amlwatch.synth import World, write_world
from tests.amlwatch.test_cli import FAST_CONFIG

runner = CliRunner()
CONFIG = (
    FAST_CONFIG.replace("seed = 1\n", "seed = 1\ncase_window_days = 2\n")  # not the default
    + '[[detector]]\nname = "tabular"\nkind = "xgboost"\n'
    + 'params = { rounds = 20, families = ["transaction", "account", "pair"] }\n'
)


@pytest.fixture(scope="module")
def world(small_world: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small world as `full/`, and its file cut at 80 % of the rows into `history/`
    and `later/` (the file is in time order), each with the accounts file."""
    root = tmp_path_factory.mktemp("score")
    write_world(small_world, root / "full")
    head, *rows = (root / "full" / "transactions.csv").read_text().splitlines(keepends=True)
    cut = int(len(rows) * 0.8)
    for name, part in (("history", rows[:cut]), ("later", rows[cut:])):
        (root / name).mkdir()
        (root / name / "transactions.csv").write_text(head + "".join(part))
        shutil.copy(root / "full" / "accounts.csv", root / name / "accounts.csv")
    config = root / "config.toml"
    config.write_text(CONFIG)
    result = runner.invoke(
        app, ["run", str(root / "history"), "--out", str(root / "run"), "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    return root


def test_new_rows_get_the_scores_of_a_run_over_history_and_data(world: Path) -> None:
    result = score(world / "run", world / "later")
    history_rows = load_ledger(world / "history").n_transactions
    assert result.history_rows == history_rows
    config = config_from_dict(json.loads((world / "run" / "config.json").read_text()))
    full = build_features(
        load_ledger(world / "full"), families=config.families(), graph=config.graph,
        flow=config.flow,
    ).filter(pl.col("txn_id") >= history_rows)  # fmt: skip
    assert result.scores.get_column("txn_id").to_list() == list(range(full.height))
    for name in ("tabular", "xgboost_graph"):
        booster = xgb.Booster(model_file=str(world / "run" / "models" / f"{name}.ubj"))
        x = full.select(booster.feature_names).to_numpy().astype(np.float32)
        expected = booster.predict(xgb.DMatrix(x, feature_names=booster.feature_names))
        assert np.array_equal(
            result.scores.get_column(name).to_numpy(), expected.astype(np.float64)
        )


def test_alerts_are_the_rows_above_the_run_threshold_named_as_in_the_file(world: Path) -> None:
    result = score(world / "run", world / "later")
    metrics = json.loads((world / "run" / "metrics.json").read_text())
    thresholds = {row["detector"]: row["threshold"] for row in metrics["evaluation"]}
    raw = pl.read_csv(world / "later" / "transactions.csv", infer_schema=False)
    for name in ("rules", "tabular", "xgboost_graph"):
        scores = result.scores.get_column(name).to_numpy()
        expected = np.flatnonzero(scores > thresholds[name]).tolist()
        alerts = result.alerts.filter(pl.col("detector") == name)
        assert alerts.get_column("txn_id").to_list() == expected
        assert alerts.columns == [
            *ALERT_IDENTITY, "detector", "score", "reasons", "case_id", "case_size",
        ]  # fmt: skip
        for row in alerts.head(5).iter_rows(named=True):  # txn_id is the row in the file
            filed = raw.row(row["txn_id"])
            assert (filed[1], filed[2], filed[3], filed[4]) == (
                row["from_bank"], row["from_account"], row["to_bank"], row["to_account"],
            )  # fmt: skip
            assert float(filed[7]) == pytest.approx(row["amount_paid"])
        if name != "rules" and alerts.height:
            assert all(alerts.get_column("reasons").str.len_chars() > 0)


def test_labelled_data_is_measured_at_the_run_thresholds(world: Path) -> None:
    result = score(world / "run", world / "later")
    labels = load_ledger(world / "later").labels()
    for row in result.summary.iter_rows(named=True):
        alerts = result.scores.get_column(row["detector"]).to_numpy() > row["threshold"]
        assert (row["tp"], row["fp"]) == (
            int(np.sum(alerts & (labels == 1))),
            int(np.sum(alerts & (labels == 0))),
        )
        assert row["alerts"] == int(alerts.sum()) and row["transactions"] == labels.size
        rings = load_ledger(world / "later").transactions.get_column("ring_id").to_numpy()
        found = {r for r, a in zip(rings, alerts, strict=True) if a and r == r}  # r == r: not NaN
        every = {r for r in rings if r == r}
        assert (row["rings"], row["rings_found"]) == (len(every), len(found) / len(every))
        alerted = result.alerts.filter(pl.col("detector") == row["detector"])
        assert row["cases"] == alerted.get_column("case_id").n_unique()
    assert result.skipped == {"iforest": "kind 'iforest' keeps no model in the run folder"}


def test_alerts_are_grouped_with_the_window_the_run_recorded(world: Path) -> None:
    result = score(world / "run", world / "later")
    alerts = result.alerts.drop("case_id", "case_size")
    assert assign_cases(alerts, window_days=2).equals(result.alerts)
    assert not assign_cases(alerts).equals(result.alerts)  # the 14-day default groups otherwise


def test_history_matters_and_data_the_history_holds_is_counted_once(world: Path) -> None:
    alone = score(world / "run", world / "later", use_history=False)
    with_history = score(world / "run", world / "later")
    assert alone.history_rows == 0
    # The account windows of the first new rows see no past without the history.
    assert not np.array_equal(
        alone.scores.get_column("tabular").to_numpy(),
        with_history.scores.get_column("tabular").to_numpy(),
    )
    # Scoring the run's own data again: the history's copies are dropped, not counted twice.
    again = score(world / "run", world / "full", history=world / "history")
    assert again.history_rows == 0
    assert any("also in the data to score" in w for w in again.warnings)
    whole = score(world / "run", world / "full", use_history=False)
    assert again.scores.equals(whole.scores)
    # A "history" that comes after the data is said, not silently mixed in.
    backwards = score(world / "run", world / "history", history=world / "later")
    assert any("starts" in w and "before the history ends" in w for w in backwards.warnings)


def test_cli_writes_alerts_and_scores_and_prints_the_summary(world: Path, tmp_path: Path) -> None:
    out, scores = tmp_path / "alerts.csv", tmp_path / "scores.parquet"
    res = runner.invoke(
        app,
        ["score", str(world / "run"), str(world / "later"), "--out", str(out), "--scores",
         str(scores), "--detector", "xgboost_graph"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "xgboost_graph" in res.output and "rules" not in res.output
    alerts = pl.read_csv(out)
    assert set(alerts.get_column("detector")) <= {"xgboost_graph"}
    assert pl.read_parquet(scores).columns == ["txn_id", "xgboost_graph"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--detector", "iforest"], "cannot score iforest: kind 'iforest' keeps no model"),
        (["--detector", "nosuch"], "nosuch: not a detector of this run"),
        (["--out", "alerts.txt"], "unknown table format"),
        (["--history", "H", "--no-history"], "contradict"),
    ],
)
def test_cli_refuses_bad_options_writing_nothing(
    world: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "alerts.parquet"
    base = ["score", str(world / "run"), str(world / "later"), "--out", str(out)]
    res = runner.invoke(app, [*base, *args])
    assert res.exit_code == 2, res.output
    assert message in " ".join(res.output.split())
    assert list(tmp_path.iterdir()) == []


def test_cli_refuses_bad_data_and_a_damaged_run(world: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    head, *rows = (world / "later" / "transactions.csv").read_text().splitlines(keepends=True)
    fields = rows[0].split(",")
    fields[7] = "-5"  # Amount Paid
    (bad / "transactions.csv").write_text(head + ",".join(fields) + "".join(rows[1:]))
    out = tmp_path / "alerts.parquet"
    res = runner.invoke(app, ["score", str(world / "run"), str(bad), "--out", str(out)])
    assert res.exit_code == 2 and "negative amount" in res.output and "line 2" in res.output
    damaged = tmp_path / "run"
    shutil.copytree(world / "run", damaged, symlinks=True)
    model = next((damaged / "models").resolve().glob("xgboost_graph.ubj"))
    model.write_bytes(model.read_bytes()[:-1])
    res = runner.invoke(app, ["score", str(damaged), str(world / "later"), "--out", str(out)])
    assert res.exit_code == 2 and "xgboost_graph.ubj" in res.output, res.output
    assert not out.exists()
