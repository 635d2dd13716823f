"""CUDA with mixed precision (skipped without a GPU; none on CI or the dev machine)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from amlwatch.gan import GANConfig, GANDetector, average_precision

from ._planted import CATEGORICAL, NUMERIC, planted

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


@pytest.mark.parametrize("amp", ["bf16", "fp16", "off"])
def test_cuda_training_finds_the_planted_rows_and_scores_like_its_cpu_copy(amp: str) -> None:
    train, _ = planted(4000, anomaly_rate=0.01, seed=1)
    test, y = planted(5000, anomaly_rate=0.01, seed=3)
    cfg = GANConfig(max_epochs=15, batch_size=256, lr_g=1e-3, lr_d=1e-3, device="cuda", amp=amp)
    det = GANDetector(columns=NUMERIC, categorical=CATEGORICAL, config=cfg).fit(train)
    scores = det.decision_function(test)  # scoring runs on the CPU copy of the networks
    assert np.isfinite(scores).all()
    assert average_precision(y, scores) >= 3 * y.mean()
