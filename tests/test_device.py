"""The device probe: engine choice and the fallback policy, on this GPU-less machine."""

from __future__ import annotations

import pytest

from basketcast.config import Device
from basketcast.device import (
    FallbackPolicy,
    has_cuda,
    polars_engine,
    resolve_device,
    xgboost_has_cuda,
)


def test_cpu_is_always_cpu():
    assert resolve_device(Device.CPU) == "cpu"


def test_auto_follows_the_probe():
    expected = "cuda" if has_cuda() and xgboost_has_cuda() else "cpu"
    assert resolve_device("auto") == expected


@pytest.mark.skipif(has_cuda() and xgboost_has_cuda(), reason="a usable GPU is present")
def test_cuda_without_a_gpu_warns_or_raises_per_policy():
    with pytest.warns(RuntimeWarning, match="training on the CPU"):
        assert resolve_device("cuda") == "cpu"
    with pytest.raises(RuntimeError, match="device=cuda"):
        resolve_device("cuda", policy=FallbackPolicy.RAISE)
    assert resolve_device("cuda", policy=FallbackPolicy.SILENT) == "cpu"


def test_polars_gpu_engine_falls_back_with_a_warning():
    assert polars_engine(gpu=False) == "auto"
    try:
        import cudf_polars  # noqa: F401
    except ImportError:
        with pytest.warns(RuntimeWarning, match="cudf-polars is not installed"):
            assert polars_engine(gpu=True) == "auto"
    else:
        assert polars_engine(gpu=True) == "gpu"
