"""The score's per-column residual scaling: noise columns stop drowning the manifold's residual."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch

from amlwatch.gan import GANConfig, GANDetector, average_precision
from amlwatch.gan.detector import _residual, _to_x

from ._planted import CATEGORICAL, NUMERIC, planted

NOISE = tuple(f"noise{j}" for j in range(12))


def _with_noise(frame: pl.DataFrame, seed: int) -> pl.DataFrame:
    # Columns no model can predict (heavy-tailed, independent of everything): lawful rows
    # vary in them as much as anomalies do.
    rng = np.random.default_rng(seed)
    return frame.with_columns(
        pl.Series(name, rng.standard_t(3, size=frame.height)) for name in NOISE
    )


@pytest.fixture(scope="module")
def fitted() -> GANDetector:
    train, _ = planted(3000, anomaly_rate=0.01, seed=21)
    cfg = GANConfig(max_epochs=8, patience=8, batch_size=256, lr_g=1e-3, lr_d=1e-3, hidden=32)
    det = GANDetector(columns=(*NUMERIC, *NOISE), categorical=CATEGORICAL, config=cfg)
    return det.fit(_with_noise(train, 21)).set_weight(1.0)  # the reconstruction term alone


def test_residual_scale_is_the_held_out_residual_sd(fitted: GANDetector) -> None:
    train, _ = planted(3000, anomaly_rate=0.01, seed=21)
    graph, prep = fitted.graph_, fitted.prep_
    assert graph is not None and prep is not None
    x = _to_x(graph.inputs, *prep.transform(_with_noise(train, 21)))
    held_out = x[-round(3000 * fitted.config.val_fraction) :]
    expected = _residual(graph, held_out).std(0).clamp_min(1e-2)
    torch.testing.assert_close(graph.res_scale, expected, rtol=1e-5, atol=1e-6)
    # The noise columns are the loosest: their residual is the column itself.
    n = len(NUMERIC)
    assert graph.res_scale[n : n + len(NOISE)].min() > graph.res_scale[:n].max()


def test_scaled_reconstruction_finds_the_planted_rows_better(fitted: GANDetector) -> None:
    test, y = planted(8000, anomaly_rate=0.01, seed=22)
    test = _with_noise(test, 22)
    scaled = average_precision(y, fitted.decision_function(test))
    graph = fitted.graph_
    assert graph is not None
    kept = graph.res_scale.clone()
    try:
        graph.res_scale.fill_(1.0)  # the plain ||x - G(E(x))||
        plain = average_precision(y, fitted.components(test)[0])
    finally:
        graph.res_scale.copy_(kept)
    assert scaled >= 3 * y.mean()
    assert scaled >= 1.5 * plain, (scaled, plain)
