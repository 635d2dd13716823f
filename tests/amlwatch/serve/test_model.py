"""The served model is the run's: its scores equal the run's detectors', from the same rows."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from amlwatch.features import build_features
from amlwatch.serve.model import choose_model

from .conftest import Run


@pytest.fixture(scope="module")
def stream_rows(aml_run: Run) -> pl.DataFrame:
    """Batch features of the stream's first 500 transactions (the world's, after the history)."""
    frame = build_features(aml_run.ledger(), families=["transaction", "account", "pair"])
    return frame.slice(aml_run.n_history, 500)


def test_the_default_is_the_gan_scored_by_its_onnx_graph_equal_to_torch(
    aml_run: Run, stream_rows: pl.DataFrame
) -> None:
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    from amlwatch.gan import GANDetector

    served = choose_model(aml_run.out)
    assert (served.detector, served.kind) == ("gan", "gan_onnx")
    gan = GANDetector.load(aml_run.out / "models" / "gan" / "gan")
    assert served.threshold == gan.threshold_
    expected = gan.decision_function(stream_rows)
    got = np.array([served.score(r) for r in stream_rows.iter_rows(named=True)])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    assert np.ptp(got) > 0.1  # not a constant


def test_xgboost_on_request_scores_as_the_run_and_keeps_its_threshold(
    aml_run: Run, stream_rows: pl.DataFrame
) -> None:
    import xgboost as xgb

    served = choose_model(aml_run.out, detector="xgboost_tabular")
    booster = xgb.Booster(model_file=str(aml_run.out / "models" / "xgboost_tabular.ubj"))
    data = xgb.DMatrix(
        stream_rows.select(served.columns).to_numpy(), feature_names=list(served.columns)
    )
    expected = booster.predict(data)
    got = np.array([served.score(r) for r in stream_rows.iter_rows(named=True)])
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    metrics = json.loads((aml_run.out / "metrics.json").read_text())
    row = next(r for r in metrics["evaluation"] if r["detector"] == "xgboost_tabular")
    assert served.threshold == row["threshold"]


def test_rules_on_request_count_the_rules_hit(aml_run: Run, stream_rows: pl.DataFrame) -> None:
    from amlwatch.detectors.rules import RulesDetector

    served = choose_model(aml_run.out, detector="rules")
    expected = RulesDetector().fit(stream_rows).decision_function(stream_rows)
    got = np.array([served.score(r) for r in stream_rows.iter_rows(named=True)])
    np.testing.assert_array_equal(got, expected)


def test_a_detector_that_cannot_be_served_is_refused_with_the_reason(
    aml_run: Run, tmp_path: Path
) -> None:
    # A copy of the run whose config also lists a graph XGBoost and an Isolation Forest.
    for name in ("config.json", "metrics.json"):
        shutil.copy(aml_run.out / name, tmp_path / name)
    config = json.loads((tmp_path / "config.json").read_text())
    config["detectors"] += [
        {"name": "xgb_graph", "kind": "xgboost", "params": {"families": ["account", "graph"]}},
        {"name": "iforest", "kind": "iforest", "params": {}},
    ]
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="graph features, which are batch only"):
        choose_model(tmp_path, detector="xgb_graph")
    with pytest.raises(ValueError, match="saves no model"):
        choose_model(tmp_path, detector="iforest")
    with pytest.raises(ValueError, match="not a detector of this run"):
        choose_model(tmp_path, detector="nope")


@pytest.mark.parametrize("detector", ["gan", "xgboost_tabular", "rules"])
def test_a_served_alert_has_the_reasons_the_run_gave_the_same_transaction(
    aml_run: Run, detector: str
) -> None:
    # The run's alerts.parquet: test-period alerts of the history, each with its reasons.
    from amlwatch.data.load import load_ledger

    if detector == "gan":
        pytest.importorskip("torch").set_num_threads(1)
    served = choose_model(aml_run.out, detector=detector)
    alerts = pl.read_parquet(aml_run.out / "alerts.parquet").filter(
        pl.col("detector") == detector, pl.col("score") > served.threshold
    )
    assert alerts.height >= 3, "the fixture's run must give this detector model alerts"
    frame = build_features(
        load_ledger(aml_run.history), families=["transaction", "account", "pair"]
    )
    rows = frame.join(alerts.select("txn_id", "reasons"), on="txn_id").sort("txn_id")
    assert rows.height == alerts.height
    got = ["; ".join(served.explain(r)) for r in rows.iter_rows(named=True)]
    want = rows.get_column("reasons").to_list()
    assert all(w for w in want) and sum(
        g == w for g, w in zip(got, want, strict=True)
    ) >= 0.95 * len(want)
    # Float32 in ONNX against torch may swap near-equal columns: the top reason still agrees.
    assert all(g.split(" (")[0] == w.split(" (")[0] for g, w in zip(got, want, strict=True))


def test_a_restart_says_when_the_state_was_warmed_from_other_data(
    aml_run: Run, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import sqlite3

    from amlwatch.serve.service import Service
    from amlwatch.serve.settings import ServeSettings

    db = tmp_path / "state.sqlite3"
    Service.start(ServeSettings(aml_run.out, db=db, history=False)).close()
    with caplog.at_level("WARNING", logger="amlwatch.serve"):
        Service.start(ServeSettings(aml_run.out, db=db)).close()
    about_data = {"data_ignored", "state_data_differs"}
    assert not [r for r in caplog.records if r.__dict__.get("event") in about_data]  # same data
    with sqlite3.connect(db) as con:  # as if warmed from the data of an earlier run
        con.execute("UPDATE meta SET value = ? WHERE key = 'data'", (str(tmp_path / "old"),))
    with caplog.at_level("WARNING", logger="amlwatch.serve"):
        Service.start(ServeSettings(aml_run.out, db=db, data_dir=aml_run.history)).close()
    events = {r.__dict__.get("event") for r in caplog.records}
    assert events & about_data == about_data


def test_a_start_repeats_what_the_run_warned_about_the_served_detector(
    aml_run: Run, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from amlwatch.serve.service import Service
    from amlwatch.serve.settings import ServeSettings
    from runkit.runfolder import MANIFEST, file_digest

    run = tmp_path / "run"
    shutil.copytree(aml_run.out, run, ignore=shutil.ignore_patterns("serve", ".outputs"))
    metrics = json.loads((run / "metrics.json").read_text())
    flood = "gan: its best-F2 threshold alerts on 100% of the validation period: ..."
    before = [w for w in metrics["warnings"] if w.startswith("gan: ")]  # the tiny GAN floods
    metrics["warnings"] = [*metrics["warnings"], flood, "rules: not the served one"]
    (run / "metrics.json").write_text(json.dumps(metrics))
    manifest = json.loads((run / MANIFEST).read_text())  # as the run would have published it
    manifest["files"]["metrics.json"] = {
        "size": (run / "metrics.json").stat().st_size,
        "sha256": file_digest(run / "metrics.json"),
    }
    (run / MANIFEST).write_text(json.dumps(manifest))
    with caplog.at_level("WARNING", logger="amlwatch.serve"):
        Service.start(ServeSettings(run, db=tmp_path / "s.sqlite3", history=False)).close()
    said = [
        r.__dict__.get("warning")
        for r in caplog.records
        if r.__dict__.get("event") == "run_warning"
    ]
    assert said == [*before, flood]
