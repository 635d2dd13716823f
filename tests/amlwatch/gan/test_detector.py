"""GANDetector: the planted answer, the Detector contract, the weight, save/load, resume."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from amlwatch.detectors import Detector, NotFittedError
from amlwatch.gan import GANConfig, GANDetector, average_precision
from amlwatch.gan.train import CHECKPOINT
from amlwatch.gan.weight import WeightRule

from ._planted import CATEGORICAL, NUMERIC, planted

RATE = 0.01


@pytest.fixture(scope="module")
def fitted() -> GANDetector:
    # 1 % off-manifold rows mixed into training, labels never passed.
    train, _ = planted(4000, anomaly_rate=RATE, seed=1)
    cfg = GANConfig(max_epochs=15, patience=15, batch_size=256, lr_g=1e-3, lr_d=1e-3, seed=0)
    return GANDetector(columns=NUMERIC, categorical=CATEGORICAL, config=cfg).fit(train)


def test_planted_off_manifold_rows_are_found(fitted: GANDetector) -> None:
    test, y = planted(10_000, anomaly_rate=RATE, seed=3)
    ap = average_precision(y, fitted.decision_function(test))
    # Trivial baseline: distance from the training median in robust units. The
    # anomalies match every column's mean and SD, so it sits near the base rate.
    assert fitted.prep_ is not None
    num, _ = fitted.prep_.transform(test)
    z = (num - np.array(fitted.prep_.center)) / np.array(fitted.prep_.scale)
    baseline = average_precision(y, np.linalg.norm(z, axis=1))
    assert ap >= 3 * y.mean()
    assert ap >= 5 * baseline, (ap, baseline)
    # Both loss curves were recorded per epoch, with throughput.
    assert len(fitted.history_) >= 2
    assert {"loss_d", "loss_g", "val_reconstruction", "samples_per_s"} <= set(fitted.history_[0])


def test_detector_contract(fitted: GANDetector) -> None:
    assert isinstance(fitted, Detector) and not fitted.supervised
    assert fitted.decision_scores_ is not None and fitted.threshold_ is not None
    # The first threshold is the (1 - contamination) quantile of the training scores.
    assert np.mean(fitted.decision_scores_ > fitted.threshold_) <= fitted.contamination + 1e-3
    frame, _ = planted(500, anomaly_rate=RATE, seed=4)
    scores = fitted.decision_function(frame)
    assert scores.dtype == np.float64 and scores.shape == (500,)
    np.testing.assert_array_equal(fitted.predict(frame), scores > fitted.threshold_)
    with pytest.raises(NotFittedError):
        GANDetector(columns=NUMERIC).decision_function(frame)


def test_choose_weight_maximises_validation_pr_auc(fitted: GANDetector) -> None:
    val, y = planted(3000, anomaly_rate=RATE, seed=2)
    rec, feat = fitted.components(val)
    assert fitted.graph_ is not None
    rec, feat = rec / float(fitted.graph_.rec_scale), feat / float(fitted.graph_.feat_scale)
    w = fitted.choose_weight(val, y)
    assert fitted.weight == w
    chosen = average_precision(y, fitted.decision_function(val))
    for other in np.linspace(0, 1, 21):
        assert chosen >= average_precision(y, other * rec + (1 - other) * feat) - 1e-12
    # The training scores and the first threshold follow the new weight.
    assert fitted.decision_scores_ is not None
    assert np.mean(fitted.decision_scores_ > fitted.threshold_) <= fitted.contamination + 1e-3
    assert fitted.choose_weight(val, np.zeros(val.height, dtype=bool)) == w  # kept
    # The one-SE rule, on a copy: the largest w within one bootstrap SE of the best.
    other_rule = copy.deepcopy(fitted)
    other_rule.config = dataclasses.replace(fitted.config, weight_rule=WeightRule.ONE_SE)
    w1 = other_rule.choose_weight(val, y)
    choice = other_rule.weight_choice_
    assert choice is not None and choice.best_weight == w and w1 == choice.weight >= w
    assert choice.pr_auc >= choice.best_pr_auc - choice.se - 1e-12
    assert average_precision(y, other_rule.decision_function(val)) == pytest.approx(choice.pr_auc)


def test_save_and_load_score_identically(fitted: GANDetector, tmp_path: Path) -> None:
    frame, _ = planted(300, anomaly_rate=RATE, seed=5)
    loaded = GANDetector.load(fitted.save(tmp_path / "gan"))
    np.testing.assert_array_equal(loaded.decision_function(frame), fitted.decision_function(frame))
    assert loaded.threshold_ == fitted.threshold_ and loaded.weight == fitted.weight


def _state(det: GANDetector) -> dict[str, torch.Tensor]:
    assert det.graph_ is not None
    return det.graph_.state_dict()


def test_resume_after_k_epochs_equals_uninterrupted_run(tmp_path: Path) -> None:
    frame, _ = planted(600, anomaly_rate=RATE, seed=6)
    cfg = GANConfig(max_epochs=4, patience=10, batch_size=64, seed=3, hidden=16)

    def detector(config: GANConfig, ckpt: Path | None, resume: bool = False) -> GANDetector:
        return GANDetector(
            columns=NUMERIC, categorical=CATEGORICAL, config=config, checkpoint_dir=ckpt,
            resume=resume,
        ).fit(frame)  # fmt: skip

    whole = detector(cfg, None)
    first = detector(GANConfig(**{**cfg.to_dict(), "max_epochs": 2}), tmp_path)
    assert (tmp_path / CHECKPOINT).is_file()
    resumed = detector(cfg, tmp_path, resume=True)
    assert [h["epoch"] for h in resumed.history_] == [1.0, 2.0, 3.0, 4.0]

    def curves(det: GANDetector) -> list[dict[str, float]]:  # all but the timing
        return [{k: v for k, v in h.items() if k != "samples_per_s"} for h in det.history_]

    assert curves(resumed) == curves(whole)
    a, b, early = _state(whole), _state(resumed), _state(first)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], early[k]) for k in a)  # epochs 3-4 did change them


def test_same_seed_same_weights_other_seed_differs() -> None:
    frame, _ = planted(300, anomaly_rate=RATE, seed=7)

    def weights(seed: int) -> dict[str, torch.Tensor]:
        cfg = GANConfig(max_epochs=1, batch_size=64, seed=seed, hidden=16)
        return _state(GANDetector(columns=NUMERIC, config=cfg).fit(frame))

    a, b, c = weights(1), weights(1), weights(2)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
