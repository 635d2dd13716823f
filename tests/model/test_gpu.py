"""CPU/GPU parity of training: the same folds and data on both devices give the same model quality.

Skipped where no CUDA GPU and CUDA-built XGBoost are present (the CI machine).
"""

from __future__ import annotations

import numpy as np
import pytest

from basketcast.device import resolve_device
from basketcast.model import feature_names, train, train_cv
from tests.model._synth import fast_config

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def cuda() -> str:
    if resolve_device("auto") != "cuda":
        pytest.skip("no CUDA GPU with a CUDA-built XGBoost")
    return "cuda"


def test_gpu_training_matches_cpu(item_frame, cuda):
    frame, _ = item_frame
    config = fast_config()
    cpu = train_cv(frame, config=config, device="cpu", threads=1)
    gpu = train_cv(frame, config=config, device=cuda)
    assert abs(cpu.auc - gpu.auc) < 0.01
    assert abs(cpu.logloss - gpu.logloss) < 0.01 * cpu.logloss
    correlation = np.corrcoef(cpu.oof["p"].to_numpy(), gpu.oof["p"].to_numpy())[0, 1]
    assert correlation > 0.98


def test_every_row_is_copied_to_the_gpu_once(item_frame, cuda):
    frame, _ = item_frame
    rows = train._FeatureRows(frame, feature_names(frame), cuda)
    assert rows.resident  # CuPy present and room on the card: folds are gathered on the device
    (matrix, labels), *_ = rows.chunks(np.arange(10), np.zeros(len(frame), np.float32))
    assert matrix.shape == (10, len(feature_names(frame))) and hasattr(matrix, "get")
    assert hasattr(labels, "get")  # CuPy arrays, both
    rows.release()
