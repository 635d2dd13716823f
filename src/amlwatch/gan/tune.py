"""A small Optuna search over the GAN: latent size, learning rates, width and score weight.

**This uses labels**: the objective is PR-AUC on the labelled validation
period (the GAN itself still trains with the training period's labels
ignored). The score weight w is a search dimension like the others
(`GANConfig.weight`), so one objective covers all five. Seeded TPE
sampler; every trial trains from the configuration's seed. amlwatch has no
tuning module of its own yet and must not import basketcast's, so this is a
small loop in Optuna's usual shape.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from amlwatch.gan.config import GANConfig
from amlwatch.gan.detector import GANDetector, average_precision

__all__ = ["TuneResult", "tune_gan"]


@dataclasses.dataclass(frozen=True)
class TuneResult:
    """The best settings, their validation PR-AUC, and every trial's (params, value)."""

    config: GANConfig
    value: float
    trials: list[tuple[dict[str, Any], float]]


def tune_gan(
    train: pl.DataFrame,
    valid: pl.DataFrame,
    valid_labels: np.ndarray,
    *,
    columns: Sequence[str],
    categorical: Sequence[str] = (),
    base: GANConfig | None = None,
    n_trials: int = 20,
    seed: int = 0,
) -> TuneResult:
    """Search latent_dim, hidden, lr_g, lr_d and weight; maximise validation PR-AUC (labels!)."""
    try:
        import optuna
    except ImportError as err:
        raise ImportError("tune_gan needs Optuna: pip install -e '.[gan]'") from err
    base = base or GANConfig()
    y = np.asarray(valid_labels).astype(bool)
    if not y.any():
        raise ValueError("tune_gan: the validation labels contain no positive row")

    def objective(trial: optuna.Trial) -> float:
        config = dataclasses.replace(
            base,
            latent_dim=trial.suggest_categorical("latent_dim", [4, 8, 16, 32]),
            hidden=trial.suggest_categorical("hidden", [32, 64, 128]),
            lr_g=trial.suggest_float("lr_g", 1e-4, 3e-3, log=True),
            lr_d=trial.suggest_float("lr_d", 1e-4, 3e-3, log=True),
            weight=trial.suggest_float("weight", 0.0, 1.0),
        )
        det = GANDetector(columns=columns, categorical=categorical, config=config).fit(train)
        return average_precision(y, det.decision_function(valid))

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=n_trials)
    best = dataclasses.replace(base, **study.best_params)
    trials = [(dict(t.params), float(t.value)) for t in study.trials if t.value is not None]
    return TuneResult(best, float(study.best_value), trials)
