"""A small Optuna search over the GAN: latent size, learning rates and width; w by the weight rule.

**This uses labels**: the objective is PR-AUC on the labelled validation
period (the GAN itself still trains with the training period's labels
ignored). The score weight w is not a search dimension of its own: every
trial fits the networks, then picks w on the same validation period by the
configuration's ``weight_rule`` (`amlwatch.gan.weight`: highest PR-AUC, or
the one-standard-error rule), exactly as a fitted detector does, and the
trial's value is the validation PR-AUC *at the w so chosen*. So the search
scores each configuration as it would be deployed; under the one-SE rule
searching w directly would undo the rule (the optimiser would take the best
w, noise of the unstable term included). Seeded TPE sampler; every trial
trains from the configuration's seed. amlwatch has no tuning module of its
own and must not import basketcast's, so this is a small loop in Optuna's
usual shape.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from amlwatch.gan.config import GANConfig
from amlwatch.gan.detector import GANDetector

__all__ = ["Trial", "TuneResult", "tune_gan"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Trial:
    """One trial: its searched settings, the w its weight rule chose and the objective there."""

    params: dict[str, Any]
    weight: float
    value: float


@dataclasses.dataclass(frozen=True)
class TuneResult:
    """The best settings (w: the weight its rule chose), their validation PR-AUC, every trial."""

    config: GANConfig
    value: float
    trials: list[Trial]


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
    """Search latent_dim, hidden, lr_g and lr_d; w by ``base.weight_rule``; maximise validation PR-AUC.

    **Uses labels** (the validation period's), for w and for the objective.
    """
    try:
        import optuna
    except ImportError as err:
        raise ImportError("tune_gan needs Optuna: pip install -e '.[gan]'") from err
    base = base or GANConfig()
    y = np.asarray(valid_labels).astype(bool)
    if y.shape[0] != valid.height:
        raise ValueError(f"tune_gan: {y.shape[0]} labels for {valid.height} validation rows")
    if not y.any():
        raise ValueError("tune_gan: the validation labels contain no positive row")

    def objective(trial: optuna.Trial) -> float:
        config = dataclasses.replace(
            base,
            latent_dim=trial.suggest_categorical("latent_dim", [4, 8, 16, 32]),
            hidden=trial.suggest_categorical("hidden", [32, 64, 128]),
            lr_g=trial.suggest_float("lr_g", 1e-4, 3e-3, log=True),
            lr_d=trial.suggest_float("lr_d", 1e-4, 3e-3, log=True),
        )
        det = GANDetector(columns=columns, categorical=categorical, config=config).fit(train)
        det.choose_weight(valid, y)  # the configuration's own rule, as a deployed fit does
        choice = det.weight_choice_
        assert choice is not None  # y has a positive row
        trial.set_user_attr("weight", choice.weight)
        return choice.pr_auc

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=n_trials)
    trials = [
        Trial(params=dict(t.params), weight=float(t.user_attrs["weight"]), value=float(t.value))
        for t in study.trials
        if t.value is not None
    ]
    best = study.best_trial
    config = dataclasses.replace(base, **best.params, weight=float(best.user_attrs["weight"]))
    return TuneResult(config, float(study.best_value), trials)
