"""The Optuna search returns the best trial's settings and value."""

from __future__ import annotations

import pytest

from amlwatch.gan import GANConfig
from amlwatch.gan.tune import tune_gan

from ._planted import CATEGORICAL, NUMERIC, planted

pytest.importorskip("optuna")


def test_search_returns_its_best_trial() -> None:
    train, _ = planted(600, anomaly_rate=0.01, seed=21)
    valid, y = planted(600, anomaly_rate=0.02, seed=22)
    base = GANConfig(max_epochs=1, batch_size=128, seed=4)
    result = tune_gan(
        train, valid, y, columns=NUMERIC, categorical=CATEGORICAL, base=base, n_trials=3
    )
    assert len(result.trials) == 3
    values = [v for _, v in result.trials]
    assert result.value == max(values)
    best_params = result.trials[values.index(max(values))][0]
    for key, value in best_params.items():
        assert getattr(result.config, key) == value
    assert result.config.max_epochs == 1 and result.config.seed == 4  # the rest is the base
    for params, _ in result.trials:
        assert params["latent_dim"] in (4, 8, 16, 32) and 1e-4 <= params["lr_g"] <= 3e-3
    with pytest.raises(ValueError, match="no positive"):
        tune_gan(train, valid, y & False, columns=NUMERIC, n_trials=1)
