"""The one place that probes for a GPU, picks engines, and sets thread budgets.

Capability flags are computed lazily and cached; nothing here imports CUDA
libraries at import time.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import tomllib
import warnings
from typing import Any

from basketcast.config import Device

__all__ = [
    "FallbackPolicy",
    "device_arrays",
    "early_thread_budget",
    "fits_on_device",
    "has_cuda",
    "polars_engine",
    "resolve_device",
    "set_thread_budget",
]

log = logging.getLogger(__name__)


class FallbackPolicy:
    """What to do when the GPU was asked for but cannot be used."""

    WARN = "warn"
    RAISE = "raise"
    SILENT = "silent"


@functools.cache
def has_cuda() -> bool:
    """True when an NVIDIA GPU is visible to this process."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


@functools.cache
def xgboost_has_cuda() -> bool:
    """True when the installed XGBoost was built with CUDA (the `xgboost-cpu` wheel is not)."""
    import xgboost

    return bool(xgboost.build_info().get("USE_CUDA", False))


def resolve_device(device: Device | str, *, policy: str = FallbackPolicy.WARN) -> str:
    """Map the configured device to the XGBoost `device` parameter ("cpu" or "cuda")."""
    device = Device(device)
    if device is Device.CPU:
        return "cpu"
    usable = has_cuda() and xgboost_has_cuda()
    if device is Device.AUTO:
        return "cuda" if usable else "cpu"
    if usable:
        return "cuda"
    reason = "no GPU is visible" if not has_cuda() else "the installed XGBoost has no CUDA support"
    message = f"device=cuda was asked for but {reason}; training on the CPU"
    if policy == FallbackPolicy.RAISE:
        raise RuntimeError(message)
    if policy == FallbackPolicy.WARN:
        warnings.warn(message, RuntimeWarning, stacklevel=2)
    return "cpu"


def device_arrays(device: str) -> Any:
    """CuPy when training on a GPU and CuPy is installed, else None (host NumPy chunks)."""
    if not device.startswith("cuda"):
        return None
    try:
        import cupy
    except ImportError:  # XGBoost copies host chunks to the device itself, only slower
        return None
    return cupy


def fits_on_device(xp: Any, nbytes: int) -> bool:
    """Room on the card for ``nbytes`` of rows, plus as much again for a fold's quantile matrix and chunks."""
    if not hasattr(xp, "cuda"):
        return True  # NumPy standing in for the device (tests)
    free, _total = xp.cuda.runtime.memGetInfo()
    return 2 * nbytes < free


def polars_engine(*, gpu: bool = False) -> str:
    """The Polars engine to collect feature plans with: "gpu" only when asked for and cuDF is installed."""
    if not gpu:
        log.info("features: Polars CPU engine")
        return "auto"
    try:
        import cudf_polars  # noqa: F401
    except ImportError:
        warnings.warn(
            "the Polars GPU engine was asked for (features.gpu_engine) but cudf-polars is not "
            "installed (pip install 'basketcast[gpu]'); building features on the CPU",
            RuntimeWarning,
            stacklevel=2,
        )
        return "auto"
    # Polars itself falls back to the CPU, per query, for anything cuDF cannot run.
    log.info("features: Polars GPU engine (cudf-polars)")
    return "gpu"


def set_thread_budget(threads: int = 0) -> int:
    """Give Polars, XGBoost and Numba one shared thread count; returns it.

    Must run before Polars is first imported for its pool size to take
    effect (the CLI and the test configuration call it first thing).
    """
    n = threads if threads > 0 else (os.cpu_count() or 1)
    # Idle OpenMP threads sleep instead of spinning: on a small machine shared with
    # another process, spinning made XGBoost many times slower.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    for var in (
        "POLARS_MAX_THREADS",
        "OMP_NUM_THREADS",
        "NUMBA_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
    ):
        os.environ.setdefault(var, str(n))
    return n


def early_thread_budget(argv: list[str]) -> int:
    """The `threads` of the ``--config`` file in `argv`, read before Polars starts; 0 when unknown.

    A positive value is put into the thread variables of Polars, OpenMP
    (XGBoost) and Numba, overriding the environment: the file is the more
    explicit choice. Any problem with the file is left to `load_config`,
    which reports it properly.
    """
    path = None
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            path = argv[i + 1]
        elif arg.startswith("--config="):
            path = arg.split("=", 1)[1]
    if path is None:
        return 0
    try:
        with open(path, "rb") as fh:
            threads = tomllib.load(fh).get("threads", 0)
    except (OSError, ValueError):
        return 0
    if not isinstance(threads, int) or isinstance(threads, bool) or threads <= 0:
        return 0
    for var in (
        "POLARS_MAX_THREADS",
        "OMP_NUM_THREADS",
        "NUMBA_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
    ):
        os.environ[var] = str(threads)
    return threads
