"""The GAN rows in `amlwatch run`: GAN, GAN OR rules, XGBoost + GAN score, on a small world."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from amlwatch.config import DetectorSpec, RunConfig
from amlwatch.data.ledger import Ledger
from amlwatch.gan import GANDetector, combine
from amlwatch.pipeline import RunResult, run
from amlwatch.score import score

TINY = {"gan": {"max_epochs": 2, "epoch_rows": 2048, "batch_size": 256, "hidden": 32}}


@pytest.fixture(scope="module")
def result(small_ledger: Ledger, tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    # part 1's small world (tests/amlwatch/conftest.py), generated once per session
    root = tmp_path_factory.mktemp("aml")
    detectors = (
        DetectorSpec("rules", "rules"),
        DetectorSpec("GAN", "gan", TINY),
        DetectorSpec("GAN OR rules", "gan_or_rules", TINY),
        DetectorSpec("XGBoost + GAN score", "xgboost_gan", {**TINY, "rounds": 20}),
    )
    return run(small_ledger, root / "run", RunConfig(detectors=detectors))


def test_the_three_gan_rows_are_in_the_evaluation_table(result: RunResult) -> None:
    assert result.table is not None
    names = result.table.get_column("detector").to_list()
    assert names == ["rules", "GAN", "GAN OR rules", "XGBoost + GAN score"]
    for row in result.table.to_dicts():
        assert 0.0 <= row["pr_auc"] <= 1.0 and np.isfinite(row["threshold"])
    # One GAN was fitted for the three rows (the cache holds it).
    assert len(combine._CACHE) == 1


def test_gan_or_rules_alerts_on_every_rule_hit(result: RunResult) -> None:
    assert result.table is not None
    rows = {r["detector"]: r for r in result.table.to_dicts()}
    rules_hit = result.test_scores["rules"] > 0.5
    combined = result.test_scores["GAN OR rules"]
    assert np.all(combined[rules_hit] == 1.0)
    assert np.all(combined[~rules_hit] < 1.0)
    if rows["GAN OR rules"]["threshold"] < 1.0:  # an OR can only add alerts
        assert rows["GAN OR rules"]["tp"] >= rows["rules"]["tp"]
        assert rows["GAN OR rules"]["alerts_per_10k"] >= rows["rules"]["alerts_per_10k"]


def test_xgboost_uses_the_gan_terms_as_features(result: RunResult) -> None:
    spec = combine.FACTORIES["xgboost_gan"](TINY, 0)
    assert spec.xgb.columns[-2:] == ["gan_rec", "gan_feat"]
    assert not {"gan_rec", "gan_feat"} & set(combine.gan_columns())
    out = Path(result.out)
    assert (out / "report.html").is_file()


def test_the_gan_row_writes_its_model_and_a_triton_repository(result: RunResult) -> None:
    models = Path(result.out) / "models" / "GAN"
    assert (models / "gan" / "weights.pt").is_file()
    assert (models / "model_repository" / "amlwatch_gan" / "config.pbtxt").is_file()
    assert (models / "model_repository" / "amlwatch_gan" / "1" / "model.onnx").is_file()
    loaded = GANDetector.load(models / "gan")
    scores = loaded.decision_function(result.test_frame)
    np.testing.assert_allclose(scores, result.test_scores["GAN"], rtol=1e-6)


def test_amlwatch_score_scores_the_saved_gan_as_the_run_did(
    result: RunResult, small_ledger: Ledger
) -> None:
    scored = score(result.out, small_ledger, use_history=False)
    test_rows = result.test_frame.get_column("txn_id").to_numpy()
    np.testing.assert_allclose(
        scored.scores.get_column("GAN").to_numpy()[test_rows], result.test_scores["GAN"], rtol=1e-6
    )
    assert set(scored.skipped) == {"GAN OR rules", "XGBoost + GAN score"}
