"""SHAP on the GPU (GPUTreeShap) against the CPU: the same contributions.

Skipped where no CUDA GPU and CUDA-built XGBoost are present (the CI machine).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from basketcast.device import resolve_device
from basketcast.importance import RunArtifacts, ShapImportanceEvaluator, get_importances
from basketcast.importance._shap import fold_contributions

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def cuda() -> str:
    if resolve_device("auto") != "cuda":
        pytest.skip("no CUDA GPU with a CUDA-built XGBoost")
    return "cuda"


def test_gpu_contributions_match_cpu(planted: RunArtifacts, cuda: str) -> None:
    rows = planted.labelled_rows(depth0=True).filter(pl.col("fold") == 0)
    matrix = rows.select(planted.feature_names).to_numpy().astype(np.float32)
    booster = planted.boosters[0]
    cpu, cpu_margin = fold_contributions(booster, matrix, planted.feature_names, device="cpu")
    gpu, gpu_margin = fold_contributions(booster, matrix, planted.feature_names, device=cuda)
    np.testing.assert_allclose(gpu, cpu, atol=1e-4)
    np.testing.assert_allclose(gpu_margin, cpu_margin, atol=1e-5)
    np.testing.assert_allclose(gpu.sum(axis=1), gpu_margin, atol=1e-4)


def test_gpu_evaluator_ranks_as_cpu(planted: RunArtifacts, cuda: str) -> None:
    cpu = get_importances(planted, evaluator=ShapImportanceEvaluator(rows=3000, device="cpu"))
    gpu = get_importances(planted, evaluator=ShapImportanceEvaluator(rows=3000, device=cuda))
    assert gpu.settings["device"] == "cuda"
    assert cpu.table["name"].to_list() == gpu.table["name"].to_list()
