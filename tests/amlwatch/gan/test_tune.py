"""The Optuna search: w chosen by the weight rule inside each trial, the best trial returned."""

from __future__ import annotations

import pytest

from amlwatch.gan import GANConfig, GANDetector
from amlwatch.gan.tune import tune_gan
from amlwatch.gan.weight import WeightRule, average_precision

from ._planted import CATEGORICAL, NUMERIC, planted

pytest.importorskip("optuna")


def test_search_returns_its_best_trial_with_the_rules_weight() -> None:
    train, _ = planted(600, anomaly_rate=0.01, seed=21)
    valid, y = planted(600, anomaly_rate=0.02, seed=22)
    base = GANConfig(max_epochs=1, batch_size=128, seed=4, weight_rule=WeightRule.ONE_SE)
    result = tune_gan(
        train, valid, y, columns=NUMERIC, categorical=CATEGORICAL, base=base, n_trials=3
    )
    assert len(result.trials) == 3
    values = [t.value for t in result.trials]
    assert result.value == max(values)
    best = result.trials[values.index(max(values))]
    assert set(best.params) == {"latent_dim", "hidden", "lr_g", "lr_d"}  # w is not searched
    for key, value in best.params.items():
        assert getattr(result.config, key) == value
    assert result.config.weight == best.weight
    assert result.config.max_epochs == 1 and result.config.seed == 4  # the rest is the base
    for t in result.trials:
        assert t.params["latent_dim"] in (4, 8, 16, 32) and 1e-4 <= t.params["lr_g"] <= 3e-3
        assert 0.0 <= t.weight <= 1.0
    # The value is what a deployed fit of the best configuration scores on validation
    # after its own rule picks w (CPU fits are bit-reproducible).
    det = GANDetector(columns=NUMERIC, categorical=CATEGORICAL, config=result.config).fit(train)
    assert det.choose_weight(valid, y) == best.weight
    assert average_precision(y, det.decision_function(valid)) == pytest.approx(result.value)
    with pytest.raises(ValueError, match="no positive"):
        tune_gan(train, valid, y & False, columns=NUMERIC, n_trials=1)
    with pytest.raises(ValueError, match="labels for"):
        tune_gan(train, valid, y[:-1], columns=NUMERIC, n_trials=1)
